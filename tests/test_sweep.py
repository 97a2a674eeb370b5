"""`counting sweep`: seeds, files identical to `counting train`, resume after interruption."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import counting.engine.runs as runs_mod
from counting.checkpoint import load_checkpoint
from counting.commands import sweep as sweep_cmd
from counting.datasets import make_datasets, write_datasets
from counting.engine import FastBackend
from counting.sweep import ROW_KEYS, run_seed, run_sweep
from counting.training import ReferenceBackend, TrainConfig, run_training

RUNS = (1, 2, 1)
EPOCHS = 3


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=5, progress=False)
    return {"train": s["train"][:50], "validation": s["validation"][:25], "long": s["long"][:8]}


@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory, sets):
    out = tmp_path_factory.mktemp("sweep_ref")
    rows = run_sweep(sets, out, runs=RUNS, epochs=EPOCHS, progress=False)
    return out, rows


def snapshot(out: Path) -> dict:
    """Every file of a sweep, comparable: histories without `seconds`, checkpoint weights
    and meta, summaries as text. Hidden files (resume state) are left out."""
    snap = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or any(part.startswith(".") for part in Path(rel).parts):
            continue
        if p.name == "history.json":
            h = json.loads(p.read_text())
            for r in h["epochs"]:
                r.pop("seconds")
            snap[rel] = h
        elif p.suffix == ".pt":
            model, meta = load_checkpoint(p)
            snap[rel] = (meta, {k: v.tolist() for k, v in model.state_dict().items()})
        elif p.name == "summary.json" or p.name == "summary.csv":
            snap[rel] = p.read_text().replace(str(out), "OUT")
        else:
            snap[rel] = p.read_text()
    return snap


def test_run_seeds_are_stable_distinct_and_independent_of_run_counts():
    seeds = {(c, r): run_seed(0, c, r) for c in ("lstm", "relu", "gru") for r in range(40)}
    assert len(set(seeds.values())) == len(seeds)
    assert all(0 <= s < 2**32 for s in seeds.values())
    assert run_seed(0, "lstm", 3) == seeds["lstm", 3]
    assert run_seed(1, "lstm", 3) != seeds["lstm", 3]
    with pytest.raises(ValueError):
        run_seed(0, "tanh", 0)


def test_sweep_layout_summary_and_seeds(reference_sweep):
    out, rows = reference_sweep
    assert [(r["cell"], r["run"]) for r in rows] == [("lstm", 0), ("relu", 0), ("relu", 1),
                                                      ("gru", 0)]
    with open(out / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert tuple(table[0]) == ROW_KEYS and len(table) == len(rows)
    assert json.loads((out / "summary.json").read_text()) == rows
    for r in rows:
        assert r["seed"] == run_seed(0, r["cell"], r["run"])
        h = json.loads((Path(r["dir"]) / "history.json").read_text())
        assert h["meta"] == {"sweep_seed": 0, "cell": r["cell"], "run": r["run"],
                             "init_seed": r["seed"]}
        assert h["config"]["seed"] == r["seed"] and h["backend"] == "fast"
        assert len(h["epochs"]) == EPOCHS and r["best_epoch"] == h["best_epoch"]
    assert not (out / ".state.npz").exists()


def test_a_sweep_run_is_what_counting_train_writes(tmp_path, reference_sweep, sets):
    out, rows = reference_sweep
    r = rows[1]
    cfg = TrainConfig(cell=r["cell"], epochs=EPOCHS, seed=r["seed"])
    meta = {"sweep_seed": 0, "cell": r["cell"], "run": r["run"], "init_seed": r["seed"]}
    run_training(cfg, sets, tmp_path / "single", FastBackend, progress=False, meta=meta)
    mine = snapshot(tmp_path / "single")
    theirs = {k.split("/", 2)[2]: v for k, v in snapshot(out).items()
              if k.startswith(f"{r['cell']}/run_{r['run']:02d}/")}
    assert mine == theirs  # bitwise: same kernels, same orders


class Interrupt(BaseException):
    pass


def interrupt_after(monkeypatch, name, n):
    """Make runs_mod.<name> raise Interrupt on its n-th call (a kill at that point)."""
    real = getattr(runs_mod, name)
    calls = {"n": 0}

    def wrapped(*a, **kw):
        calls["n"] += 1
        if calls["n"] == n:
            raise Interrupt
        return real(*a, **kw)

    monkeypatch.setattr(runs_mod, name, wrapped)


@pytest.mark.parametrize("where,n", [("_save_state", 2), ("write_json_atomic", 6),
                                     ("save_checkpoint", 3), ("_save_state", 1)])
def test_interrupted_then_resumed_sweep_equals_uninterrupted(tmp_path, monkeypatch, sets,
                                                             reference_sweep, where, n):
    with monkeypatch.context() as m:
        interrupt_after(m, where, n)
        with pytest.raises(Interrupt):
            run_sweep(sets, tmp_path, runs=RUNS, epochs=EPOCHS, progress=False)
    assert not (tmp_path / "summary.csv").exists()
    rows = run_sweep(sets, tmp_path, runs=RUNS, epochs=EPOCHS, progress=False)
    out, ref_rows = reference_sweep
    assert snapshot(tmp_path) == snapshot(out)
    assert [{k: v for k, v in r.items() if k != "dir"} for r in rows] == \
        [{k: v for k, v in r.items() if k != "dir"} for r in ref_rows]


def test_resume_does_only_the_missing_work(tmp_path, monkeypatch, sets, reference_sweep):
    with monkeypatch.context() as m:
        interrupt_after(m, "_save_state", 2)  # killed after epoch 2's histories
        with pytest.raises(Interrupt):
            run_sweep(sets, tmp_path, runs=RUNS, epochs=EPOCHS, progress=False)
    epochs_trained = []
    real = runs_mod.ModelBank.epoch

    def counting_epoch(self, rows, *a, **kw):
        epochs_trained.append(len(rows))
        return real(self, rows, *a, **kw)

    monkeypatch.setattr(runs_mod.ModelBank, "epoch", counting_epoch)
    run_sweep(sets, tmp_path, runs=RUNS, epochs=EPOCHS, progress=False)
    assert epochs_trained == [4, 4]  # from epoch 1's state: epoch 2 redone, then epoch 3
    epochs_trained.clear()
    run_sweep(sets, tmp_path, runs=RUNS, epochs=EPOCHS, progress=False)
    assert epochs_trained == []  # finished: nothing to do
    assert snapshot(tmp_path) == snapshot(reference_sweep[0])


def test_other_options_in_the_same_directory_are_refused(tmp_path, sets):
    run_sweep(sets, tmp_path, runs=(1, 0, 0), epochs=1, progress=False)
    # the defaults spelled out (as the command line passes them) are the same sweep
    run_sweep(sets, tmp_path, runs=(1, 0, 0), epochs=1, progress=False, lr=None, loss="mse",
              dtype="float64", hidden_size=1)
    with pytest.raises(ValueError, match="train_options"):
        run_sweep(sets, tmp_path, runs=(1, 0, 0), epochs=1, progress=False, lr=0.02)
    with pytest.raises(ValueError, match="epochs"):
        run_sweep(sets, tmp_path, runs=(1, 0, 0), epochs=2, progress=False)
    with pytest.raises(ValueError, match="runs"):
        run_sweep(sets, tmp_path, runs=(2, 0, 0), epochs=1, progress=False)
    with pytest.raises(ValueError, match="runs needs one count"):
        run_sweep(sets, tmp_path / "x", runs=(1, 2), epochs=1, progress=False)
    with pytest.raises(ValueError, match="unknown train option"):
        run_sweep(sets, tmp_path / "y", runs=1, epochs=1, progress=False, momentum=0.9)


def test_hidden_size_2_on_the_engine_and_float32_on_the_reference(tmp_path, sets):
    rows = run_sweep(sets, tmp_path / "h2", cells=("relu",), runs=(1,), epochs=1,
                     progress=False, hidden_size=2)
    h = json.loads((Path(rows[0]["dir"]) / "history.json").read_text())
    assert h["backend"] == "fast" and h["config"]["hidden_size"] == 2
    ref = run_training(TrainConfig(cell="relu", epochs=1, hidden_size=2, seed=rows[0]["seed"]),
                       sets, None, ReferenceBackend, progress=False)
    for k, v in ref["epochs"][0].items():
        if k != "seconds":
            assert math.isclose(h["epochs"][0][k], v, rel_tol=1e-9, abs_tol=1e-12), k
    rows = run_sweep(sets, tmp_path / "f32", cells=("relu",), runs=(1,), epochs=1,
                     progress=False, dtype="float32")
    h = json.loads((Path(rows[0]["dir"]) / "history.json").read_text())
    assert h["backend"] == "reference" and h["config"]["dtype"] == "float32"


def _parse(argv):
    p = argparse.ArgumentParser()
    sweep_cmd.register(p.add_subparsers())
    return p.parse_args(["sweep", *argv])


def test_sweep_command(tmp_path, sets, capsys):
    data = tmp_path / "data"
    write_datasets(data, sets)
    args = _parse(["--data", str(data), "--out", str(tmp_path / "s"), "--cells", "gru,relu",
                   "--runs", "1", "--epochs", "2", "--jobs", "1"])
    assert args.func(args) == 0
    assert "summary.csv" in capsys.readouterr().out
    rows = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert [(r["cell"], r["run"]) for r in rows] == [("gru", 0), ("relu", 0)]
    for bad in (["--cells", "lstm,tanh"], ["--runs", "1,x"], ["--runs", "1,0"],
                ["--cells", "lstm,lstm"]):  # rejected when the command line is parsed
        with pytest.raises(SystemExit):
            _parse(["--data", str(data), "--out", str(tmp_path / "t"), *bad])
        assert ("--cells" if "--cells" in bad else "--runs") in capsys.readouterr().err
    args = _parse(["--data", str(data), "--out", str(tmp_path / "t"), "--runs", "1,2"])
    with pytest.raises(ValueError, match="2 counts for 3 cells"):
        args.func(args)


KILLED = textwrap.dedent("""
    import sys
    from counting.datasets import make_datasets
    from counting.sweep import run_sweep
    s = make_datasets("smoke", seed=5, progress=False)
    sets = {"train": s["train"], "validation": s["validation"], "long": s["long"]}
    run_sweep(sets, sys.argv[1], runs=(2, 3, 2), epochs=int(sys.argv[2]), progress=False)
""")


def _epochs_written(out: Path) -> int:
    best = 0
    for p in out.glob("*/run_*/history.json"):
        try:
            best = max(best, len(json.loads(p.read_text())["epochs"]))
        except (OSError, ValueError, KeyError):
            pass
    return best


@pytest.mark.slow
def test_sweep_killed_by_sigkill_resumes_to_identical_results(tmp_path):
    """A real kill -9 in the middle of the work (twice), then the same command again."""
    epochs = 150
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-c", KILLED, str(ref), str(epochs)], check=True,
                   timeout=600)
    out = tmp_path / "killed"
    for at in (10, 90):
        proc = subprocess.Popen([sys.executable, "-c", KILLED, str(out), str(epochs)])
        deadline = time.time() + 300
        while _epochs_written(out) < at and time.time() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (out / "summary.csv").exists(), "the sweep ended before it was killed"
    subprocess.run([sys.executable, "-c", KILLED, str(out), str(epochs)], check=True,
                   timeout=600)
    assert snapshot(out) == snapshot(ref)
