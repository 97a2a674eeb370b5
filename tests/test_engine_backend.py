"""FastBackend in the training driver and `evaluate_many`, against the torch reference."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch

from counting.checkpoint import load_checkpoint
from counting.commands import train as train_cmd
from counting.datasets import make_datasets, write_datasets
from counting.engine import FastBackend, evaluate_many, supports
from counting.engine.words import EvalSet
from counting.metrics import evaluate
from counting.models import CELLS, init_model
from counting.training import ReferenceBackend, TrainConfig, run_training


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=3, progress=False)
    return {"train": s["train"][:80], "validation": s["validation"][:40], "long": s["long"][:15],
            "very_long": s["very_long"], "zigzag": s["zigzag"]}


def strip(h):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in h["epochs"]]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_two_epoch_run_matches_reference(tmp_path, sets, cell, loss):
    cfg = TrainConfig(cell=cell, epochs=2, loss=loss, seed=11, checkpoint_epochs=(1,))
    ref = run_training(cfg, sets, tmp_path / "ref", ReferenceBackend, progress=False)
    fast = run_training(cfg, sets, tmp_path / "fast", FastBackend, progress=False)
    assert fast["backend"] == "fast" and ref["backend"] == "reference"
    assert fast["best_epoch"] == ref["best_epoch"]
    assert abs(fast["best_validation_loss"] - ref["best_validation_loss"]) <= 1e-9
    a, b = strip(ref), strip(fast)
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for ra, rb in zip(a, b, strict=True):
        for k, v in ra.items():
            assert math.isclose(v, rb[k], rel_tol=1e-9, abs_tol=1e-9), (k, v, rb[k])
    files = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())  # noqa: E731
    assert files(tmp_path / "ref") == files(tmp_path / "fast")
    for name in ("best.pt", "checkpoints/epoch_01.pt"):
        ma, meta_a = load_checkpoint(tmp_path / "ref" / name)
        mb, meta_b = load_checkpoint(tmp_path / "fast" / name)
        assert meta_a == meta_b
        for k, v in ma.state_dict().items():
            torch.testing.assert_close(mb.state_dict()[k], v, rtol=0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_longer_run_matches_reference(tmp_path, cell, loss):
    """5 epochs on the whole smoke profile (1,000 online steps): same best epoch, history
    within 1e-9."""
    full = make_datasets("smoke", seed=6, progress=False)
    cfg = TrainConfig(cell=cell, epochs=5, loss=loss, seed=12)
    ref = run_training(cfg, full, None, ReferenceBackend, progress=False)
    fast = run_training(cfg, full, None, FastBackend, progress=False)
    assert fast["best_epoch"] == ref["best_epoch"]
    for ra, rb in zip(strip(ref), strip(fast), strict=True):
        for k, v in ra.items():
            assert math.isclose(v, rb[k], rel_tol=1e-9, abs_tol=1e-9), (k, v, rb[k])


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_evaluate_many_equals_metrics_evaluate(sets, loss):
    # 9 LSTMs: a vectorized block of lanes; one GRU and one ReLU: the scalar path
    models = [init_model("lstm", 1, s, "float64") for s in range(9)]
    models += [init_model(c, 1, 0, "float64") for c in ("relu", "gru")]
    with torch.no_grad():  # a saturated model too: outputs near 0/1, BCE clamps
        for p in models[1].parameters():
            p.mul_(6.0)
    models += [init_model("lstm", 2, 0, "float64"), init_model("gru", 1, 0, "float32")]
    for name in ("validation", "very_long", "zigzag"):
        got = evaluate_many(models, sets[name], loss)
        for m, g in zip(models, got, strict=True):
            want = evaluate(m, sets[name], loss)
            assert sorted(g) == sorted(want)
            for k in ("n", "accuracy", "fpf", "fully_right", "fpfs"):
                assert g[k] == want[k], (name, k)
            assert math.isclose(g["loss"], want["loss"], rel_tol=1e-12, abs_tol=1e-15)


def test_evalset_handles_duplicates_prefixes_and_order():
    words = ["(())", "()", "(())", "()()", "()", "(()())", "((()))"]
    es = EvalSet.from_words(words)
    assert sorted(es.index.tolist()) == list(range(len(words)))
    model = init_model("relu", 1, 4, "float64")
    got = evaluate_many([model], words)[0]
    want = evaluate(model, words)
    assert got["fpfs"] == want["fpfs"]
    assert math.isclose(got["loss"], want["loss"], rel_tol=1e-12)
    with pytest.raises(ValueError, match="empty set"):
        evaluate_many([model], [])


def test_supports_and_refusals():
    assert supports("lstm") is None
    assert all(supports(c, hidden_size=h) is None for c in CELLS for h in range(1, 9))
    for h in (0, 9):
        assert "hidden sizes 1 to 8" in supports("gru", hidden_size=h)
    assert "float64" in supports("relu", dtype="float32")
    with pytest.raises(ValueError, match="hidden sizes 1 to 8.*--engine reference"):
        FastBackend(init_model("lstm", 9, 0, "float64"), ["()"], TrainConfig(hidden_size=9))
    with pytest.raises(ValueError, match="float64.*--engine reference"):
        FastBackend(init_model("lstm", 2, 0, "float32"), ["()"], TrainConfig(hidden_size=2))


def _train_args(data, out, **kw):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    train_cmd.register(sub)
    argv = ["train", "--cell", kw.pop("cell", "relu"), "--data", str(data), "--out", str(out),
            "--epochs", "1"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return p.parse_args(argv)


def test_train_command_engine_choice(tmp_path, sets):
    data = tmp_path / "data"
    write_datasets(data, sets)
    args = _train_args(data, tmp_path / "auto")
    assert args.func(args) == 0
    assert json.loads((tmp_path / "auto" / "history.json").read_text())["backend"] == "fast"
    args = _train_args(data, tmp_path / "h2", hidden_size=2)
    assert args.func(args) == 0  # hidden size 2: the engine
    assert json.loads((tmp_path / "h2" / "history.json").read_text())["backend"] == "fast"
    args = _train_args(data, tmp_path / "f32", dtype="float32")
    assert args.func(args) == 0  # float32 falls back to the reference
    assert json.loads((tmp_path / "f32" / "history.json").read_text())["backend"] == "reference"
    args = _train_args(data, tmp_path / "forced", dtype="float32", engine="fast")
    with pytest.raises(ValueError, match="--engine fast: .*float64"):
        args.func(args)
    args = _train_args(data, tmp_path / "ref", engine="reference")
    assert args.func(args) == 0
    ref = json.loads((tmp_path / "ref" / "history.json").read_text())
    fast = json.loads((tmp_path / "auto" / "history.json").read_text())
    assert ref["backend"] == "reference"
    np.testing.assert_allclose(
        [r["validation_loss"] for r in ref["epochs"]],
        [r["validation_loss"] for r in fast["epochs"]], rtol=1e-9)
