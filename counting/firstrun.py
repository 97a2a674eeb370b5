"""The first run on a machine: numba compiles the kernels once and caches them on disk.

Without a word, the minute or two of compilation look like a hang, and a progress bar started before
it shows an ETA of hours. So the commands call, before any bar starts,

    warm_engine("train" | "sweep")   # the engine's kernels (counting.engine)
    warm_cells()                     # the cell replicas of counting.unrolled (eval, diagnose)

which, when the kernels are not in numba's cache yet, print one line first

    compiling the engine's kernels once (about 75 s; cached for later runs)

and then compile them by running the same code on a tiny problem. Whether they are cached
is told by a stamp written after a successful warm-up, beside numba's cache of the sources
(`__pycache__/warm-<kind>.stamp`), holding a key of those sources and of numba's and Python's
versions; `counting.engine.cachecheck` drops numba's cache when an engine source changes,
and the key changes with it. Library calls never print; only the CLI commands call these.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

ENGINE_MESSAGE = "compiling the engine's kernels once (about 75 s; cached for later runs)"
CELLS_MESSAGE = "compiling the cell kernels once (about 5 s; cached for later runs)"
_TINY = {"train": ["()", "(())", "()()"], "validation": ["(())()"], "long": ["((()))()"]}


def _key(sources: list[Path]) -> str:
    import numba

    h = hashlib.sha256(f"{numba.__version__} {sys.version}".encode())
    for path in sorted(sources):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _stamp_dir_engine() -> Path:
    from counting.engine import cachecheck

    return cachecheck.STAMP.parent


def _stamp_dir_cells() -> Path:
    return Path(__file__).resolve().parent / "__pycache__"


def _engine_sources() -> list[Path]:
    from counting.engine import cachecheck

    return sorted(cachecheck.HERE.glob("*.py"))


def _cells_sources() -> list[Path]:
    return [Path(__file__).resolve().parent / "unrolled.py"]


def _cached(stamp: Path, key: str) -> bool:
    try:
        return stamp.read_text().strip() == key
    except OSError:
        return False


def _write_stamp(stamp: Path, key: str) -> None:
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(key + "\n")
    except OSError:  # a read-only install: the line is printed again next time, no harm
        pass


def warm(kind: str, stamp_dir: Path, sources: list[Path], message: str, work,
         stream=None) -> bool:
    """Run `work()` (compiling some kernels) after printing `message`, unless the stamp
    `stamp_dir/warm-<kind>.stamp` holds the key of `sources`; then write the stamp. Higher
    layers warm their own kernels with it (e.g. probes.worstcase.warmup). -> True when it
    compiled."""
    return _warm(kind, stamp_dir, sources, message, work, stream)


def _warm(kind: str, stamp_dir: Path, sources: list[Path], message: str, work,
          stream) -> bool:
    stamp = stamp_dir / f"warm-{kind}.stamp"
    key = _key(sources)
    if _cached(stamp, key):
        return False
    print(message, file=stream or sys.stderr, flush=True)
    work()
    _write_stamp(stamp, key)
    return True


def _train_kernels(loss: str) -> None:
    from counting.engine import FastBackend
    from counting.training import TrainConfig, run_training

    for cell in ("lstm", "relu", "gru"):
        run_training(TrainConfig(cell=cell, epochs=1, loss=loss), _TINY,
                     backend_factory=FastBackend, progress=False)


def _sweep_kernels(loss: str) -> None:
    from counting.engine import evaluate_many
    from counting.engine.runs import RunSpec, train_runs
    from counting.models import init_model
    from counting.training import TrainConfig

    with tempfile.TemporaryDirectory(prefix="counting-warmup-") as tmp:
        specs = [RunSpec(TrainConfig(cell=c, epochs=1, loss=loss), Path(tmp) / c, {}, c)
                 for c in ("lstm", "relu", "gru")]
        train_runs(specs, _TINY, progress=False)
    models = [init_model(c, 1, 0, "float64") for c in ("lstm", "relu", "gru")]
    evaluate_many(models, _TINY["long"], loss)


def warm_engine(kind: str = "sweep", loss: str = "mse", stream=None) -> bool:
    """Compile the engine's kernels for `kind` of work ("train": one run at a time, FastBackend;
    "sweep": many runs at once and evaluate_many, as sweeps and `reproduce` use them), printing
    ENGINE_MESSAGE first, unless they are cached. -> True when it compiled."""
    work = {"train": _train_kernels, "sweep": _sweep_kernels}[kind]
    return _warm(f"{kind}-{loss}", _stamp_dir_engine(), _engine_sources(), ENGINE_MESSAGE,
                 lambda: work(loss), stream)


def warm_cells(stream=None) -> bool:
    """Compile the cell replicas (`counting.unrolled`) in both dtypes, printing
    CELLS_MESSAGE first, unless they are cached. -> True when it compiled."""
    return _warm("cells", _stamp_dir_cells(), _cells_sources(), CELLS_MESSAGE, _cell_work,
                 stream)


def _cell_work() -> None:
    import numpy as np

    from counting.models import init_model
    from counting.unrolled import CellReplica

    tok = np.array([0, 0, 1, 1], dtype=np.int8)
    for dtype in ("float64", "float32"):
        for cell in ("lstm", "relu", "gru"):
            replica = CellReplica.of(init_model(cell, 1, 0, dtype))
            if replica is not None:
                replica.run(tok, replica.zero_state())
                state = replica.zero_state()
                out = np.empty((len(replica.keys), 2, 4), dtype=replica.dtype)
                replica.run(tok, state, out=out[:, 0, :])  # the strided layout probes use
