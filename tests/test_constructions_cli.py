"""`counting construct` checkpoints evaluated by `counting eval`: perfect on every set (smoke
profile here, the paper's very-long and zigzag sets in the slow test)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import constructions
from counting.checkpoint import load_checkpoint
from counting.cli import main
from counting.datasets import load_datasets


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("smoke")
    assert main(["data", "--out", str(d), "--profile", "smoke"]) == 0
    return d


def construct_and_eval(tmp_path, data_dir, *opts) -> dict:
    ckpt, out = tmp_path / "model.pt", tmp_path / "eval.json"
    assert main(["construct", *opts, "--out", str(ckpt)]) == 0
    assert main(["eval", str(ckpt), "--data", str(data_dir), "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exact_checkpoints_are_perfect_on_every_smoke_set(cell, dtype, tmp_path, smoke_dir):
    res = construct_and_eval(tmp_path, smoke_dir, "--cell", cell, "--dtype", dtype)
    assert set(res) == {"train", "validation", "long", "very_long", "zigzag"}
    for name, m in res.items():
        assert m["accuracy"] == 100.0 and m["fully_right"] == m["n"], name
    model, meta = load_checkpoint(tmp_path / "model.pt")
    assert model.cell == cell and str(model.dtype) == f"torch.{dtype}"
    assert meta["construction"] == "exact"


@pytest.mark.parametrize("cell,eps", [("gru", 1e-3), ("lstm", 1e-4), ("relu", 1e-3)])
def test_leaky_checkpoints_fail_where_predicted(cell, eps, tmp_path, smoke_dir, capsys):
    """The eval's mean FPF on the zigzag set is the mean of the derived first failures."""
    res = construct_and_eval(tmp_path, smoke_dir, "--cell", cell, "--eps", str(eps))
    assert "maximum correct nesting depth" in capsys.readouterr().out
    fam = (constructions.AffineCounter.relu(w_hh=1 - eps) if cell == "relu"
           else constructions.AffineCounter.leaky(eps))
    seqs = load_datasets(smoke_dir, ("zigzag",))["zigzag"]
    pred = [constructions.predicted_first_failure(fam, s) for s in seqs]
    fpfs = [len(s) if p is None else p for s, p in zip(seqs, pred)]
    assert res["zigzag"]["fpf"] == pytest.approx(float(np.mean(fpfs)), abs=1e-9)
    assert res["zigzag"]["fully_right"] == sum(p is None for p in pred)
    _, meta = load_checkpoint(tmp_path / "model.pt")
    key = "w_hh" if cell == "relu" else "eps"
    assert meta[key] == pytest.approx(1 - eps if cell == "relu" else eps)


def test_construct_errors_exit_2(tmp_path, capsys):
    out = str(tmp_path / "m.pt")
    assert main(["construct", "--cell", "gru", "--out", out]) == 2
    assert "--eps" in capsys.readouterr().err
    for eps in ("0", "1", "-0.5"):
        assert main(["construct", "--cell", "lstm", "--eps", eps, "--out", out]) == 2
        assert "eps" in capsys.readouterr().err
        assert main(["construct", "--cell", "relu", "--eps", eps, "--out", out]) == 2
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.slow
def test_exact_checkpoints_are_perfect_on_the_papers_long_sets(tmp_path_factory):
    full = tmp_path_factory.mktemp("paper")
    assert main(["data", "--out", str(full), "--profile", "paper"]) == 0
    data = tmp_path_factory.mktemp("paper_long")
    for name in ("very_long.txt", "zigzag.txt"):
        shutil.copy(full / name, data / name)
    work = tmp_path_factory.mktemp("ckpt")
    for cell in ("lstm", "relu"):
        for dtype in ("float32", "float64"):
            res = construct_and_eval(work, data, "--cell", cell, "--dtype", dtype)
            assert res["very_long"]["n"] == 100 and res["zigzag"]["n"] == 10
            for m in res.values():
                assert m["accuracy"] == 100.0 and m["fully_right"] == m["n"]
                assert m["fpf"] == (1000.0 if m["n"] == 100 else 2000.0)
