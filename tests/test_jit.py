"""The numba machinery (`counting.jit`): one cache directory keyed on every numba source,
NUMBA_CACHE_DIR respected, stamps beside the cache numba uses, nothing compiled at import,
and kernels compiled per cell and hidden size (issue 21)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from counting.jit import cache

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, env_extra: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=600, check=True)


@pytest.fixture
def project(tmp_path):
    """A copy of the project's packages (sources only), whose files the test edits."""
    root = tmp_path / "root"
    for package in cache.PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, root / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def test_the_key_covers_every_numba_source(project):
    """intrinsics and mathfn are inlined into other files' kernels: an edit of either (or of
    any numba source: the worst-case kernels, counting.unrolled) gives another key; an edit
    of a file without kernels does not."""
    sources = {p.relative_to(project).as_posix() for p in cache.sources(project)}
    for name in ("counting/jit/intrinsics.py", "counting/jit/decorators.py",
                 "counting/engine/mathfn.py", "counting/engine/train.py",
                 "counting/unrolled.py", "counting/pcfg_kernel.py",
                 "probes/worstcase/numerics.py", "probes/worstcase/rows.py"):
        assert name in sources
    assert "counting/cli.py" not in sources
    key = cache.key(project)
    assert cache.key(project) == key
    for name in ("counting/jit/intrinsics.py", "counting/engine/mathfn.py",
                 "probes/worstcase/cells.py", "counting/unrolled.py"):
        _edit(project / name)
        assert cache.key(project) != key, name
        key = cache.key(project)
    _edit(project / "counting" / "cli.py")
    assert cache.key(project) == key
    (project / "counting" / "newkernel.py").write_text(
        "from counting.jit import kernel\n\n\n@kernel\ndef f(x):\n    return x\n")
    assert cache.key(project) != key  # a new file with a kernel is found by its decorator


def test_the_old_homes_are_the_new_ones():
    from counting.engine import intrinsics, jit
    from counting.jit import decorators
    from counting.jit import intrinsics as home

    assert jit.kernel is decorators.kernel and jit.inline is decorators.inline
    assert jit.borrowing is decorators.borrowing and jit.parallel is decorators.parallel
    assert intrinsics.fma is home.fma and intrinsics.atomic_add is home.atomic_add
    assert intrinsics.as_float is home.as_float


IMPORT_ALL = """
import json, os, numba
import counting.engine, counting.unrolled, counting.pcfg_kernel
import probes.worstcase.rows, probes.worstcase.wide
from counting.engine import FastBackend
from counting.jit import cache
from counting.jit.node import dispatchers
ds = dispatchers("counting.") + dispatchers("probes.")
base = os.environ["NUMBA_CACHE_DIR"]
files = [f for _, _, fs in os.walk(base) for f in fs]
print(json.dumps({"n": len(ds), "compiled": [d.py_func.__qualname__ for d in ds if d.signatures],
                  "files": files, "numba": numba.config.CACHE_DIR,
                  "paths": sorted({d._cache._cache_path for d in ds
                                   if hasattr(d._cache, "_cache_path")})}))
"""


def test_nothing_compiles_at_import_and_numba_cache_dir_is_respected(tmp_path):
    """Importing the engine, the cell replicas and the worst-case kernels compiles, loads
    and writes no kernel, and every kernel is to be cached under $NUMBA_CACHE_DIR, in the
    directory named after the sources' key."""
    out = json.loads(_run(IMPORT_ALL, {"NUMBA_CACHE_DIR": str(tmp_path)}).stdout)
    assert out["n"] > 20 and out["compiled"] == []
    assert not [f for f in out["files"] if f.endswith((".nbi", ".nbc"))]
    (directory,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert directory.name.startswith("counting-" + cache.key()[:16])
    assert out["numba"] == str(directory)
    assert out["paths"] and all(p.startswith(str(directory)) for p in out["paths"])


WARM = """
import sys
from counting.jit import warmup
print(warmup.warm("probe", "compiling the probe once", lambda: print("work")))
print(warmup.stamp_path("probe"))
"""


def test_the_stamp_lies_in_the_cache_numba_uses(tmp_path):
    """A fresh NUMBA_CACHE_DIR (a cluster node, a new temp dir) means a first run: the line
    is printed (before the work); the stamp lies in that directory, so a second process
    with the same directory is quiet, and a process with another fresh directory is not."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "a")}
    first = _run(WARM, env)
    assert first.stderr == "compiling the probe once\n"
    assert first.stdout.splitlines()[:2] == ["work", "True"]
    stamp = Path(first.stdout.splitlines()[2])
    assert stamp.is_file() and stamp.parent.parent == tmp_path / "a"
    second = _run(WARM, env)
    assert second.stderr == "" and second.stdout.splitlines()[0] == "False"
    other = _run(WARM, {"NUMBA_CACHE_DIR": str(tmp_path / "b")})
    assert other.stderr == "compiling the probe once\n"


def test_configure_keeps_its_first_choice(tmp_path):
    chosen = cache.configure()
    assert cache.configure() == chosen == cache.configured()
    with pytest.raises(RuntimeError, match="already"):
        cache.configure(tmp_path / "elsewhere")


ONE_CELL = """
import json
from counting.engine import FastBackend, evaluate, train
from counting.training import TrainConfig, run_training
from counting.jit.node import dispatchers
sets = {"train": ["()", "(())"], "validation": ["()()"], "long": ["((()))"]}
run_training(TrainConfig(cell="relu", epochs=1), sets, backend_factory=FastBackend,
             progress=False)
used = sorted({d.py_func.__module__ + "." + d.py_func.__qualname__ for d in dispatchers()
               if d.signatures})
print(json.dumps({"used": used,
                  "epoch": [list(k) for k, d in train.EPOCH_KERNELS.items() if d.signatures],
                  "block": [k for k, d in evaluate.BLOCK_KERNELS.items() if d.signatures]}))
"""


def test_training_one_cell_compiles_only_its_kernels():
    """`counting train --cell relu` needs the ReLU's kernels at hidden size 1: only their
    variants are compiled (or loaded: a kernel loaded from the cache holds its callees);
    neither the LSTM's nor the GRU's nor any hidden-size > 1 or many-model kernel."""
    from counting.engine.train import RELU

    out = json.loads(_run(ONE_CELL, {}).stdout)
    assert out["epoch"] == [[RELU, 0]] and out["block"] == [RELU]
    for other in ("lstm", "gru", "lstm_h", "relu_h", "gru_h"):
        assert f"counting.engine.{other}.sequence_grad" not in out["used"]
    assert "counting.engine.evaluate_h.eval_model" not in out["used"]
    assert not [u for u in out["used"] if u.startswith("counting.engine.many.")]


def test_the_hidden_size_1_bank_equals_fast_backend_bit_for_bit():
    """The hidden-size-1 variants of the many-model kernels (a sweep's) and the per-cell
    variants (`counting train`'s) compute the same numbers."""
    from counting.datasets import make_datasets
    from counting.engine import FastBackend
    from counting.engine.many import JointSet, ModelBank, packed_train
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    sets = make_datasets("smoke", seed=3, progress=False)
    specs = [(c, 5 + i) for i, c in enumerate(("lstm", "relu", "gru"))]
    models = [init_model(c, 1, s, "float64") for c, s in specs]
    bank = ModelBank(models, [TrainConfig(cell=c).lr for c, _ in specs], 0)
    words = sets["train"][:80]
    orders = np.stack([shuffle_orders(s, len(words), 1)[0] for _, s in specs])
    joint = JointSet({"validation": sets["validation"]})
    online, per_set = bank.epoch(range(len(specs)), packed_train(words), orders, joint)
    for i, (c, s) in enumerate(specs):
        fb = FastBackend(init_model(c, 1, s, "float64"), words, TrainConfig(cell=c))
        assert fb.train_epoch(orders[i]) == online[i]
        assert np.array_equal(fb.params[: fb.n], bank.P[i, : fb.n])
        m = fb.evaluate(sets["validation"])
        assert m["fpfs"] == per_set["validation"][1][i].tolist()
        assert m["loss"] == float(np.mean(per_set["validation"][0][i]))


CLI = [sys.executable, "-m", "counting.cli"]


@pytest.mark.slow
def test_train_on_a_fresh_cache_dir_says_compiling_before_its_bar(tmp_path):
    """The defect of issue 21: with a fresh NUMBA_CACHE_DIR, `counting train` compiled inside
    its progress bar without a word (the stamp sat in the package's __pycache__)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    data = tmp_path / "data"
    subprocess.run(CLI + ["data", "--out", str(data), "--profile", "smoke"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    cmd = CLI + ["train", "--cell", "relu", "--data", str(data), "--epochs", "1", "--out"]
    cold = subprocess.run(cmd + [str(tmp_path / "r1")], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stderr
    assert cold.startswith("compiling the engine's kernels once")
    assert "train relu" in cold and cold.count("compiling") == 1
    warm = subprocess.run(cmd + [str(tmp_path / "r2")], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stderr
    assert "compiling" not in warm
