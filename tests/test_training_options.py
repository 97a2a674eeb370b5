"""Training options outside the kernels: the inits' exact weights, validation (one-line CLI
errors), recording in history.json and the sweep summary, the GPU's refusal, and
`counting data --train-lengths`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from constructions import exact_counter
from counting.checkpoint import load_checkpoint
from counting.cli import main
from counting.datasets import PROFILES, load_datasets, make_datasets, write_datasets
from counting.engine import FastBackend
from counting.inits import initial_model
from counting.metrics import evaluate
from counting.models import init_model
from counting.sweep import ROW_KEYS, run_sweep
from counting.training import OPTION_FIELDS, TrainConfig, non_default_options, run_training


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=5, progress=False)
    return {"train": s["train"][:50], "validation": s["validation"][:25], "long": s["long"][:8],
            "very_long": s["very_long"], "zigzag": s["zigzag"]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, sets):
    d = tmp_path_factory.mktemp("data")
    write_datasets(d, sets)
    return d


def state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------- inits
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_irnn_is_identity_recurrence_zero_biases_and_torch_input_readout(dtype):
    for seed in (0, 3):
        got = state(initial_model(TrainConfig(cell="relu", seed=seed, dtype=dtype, init="irnn")))
        torch_init = state(init_model("relu", 1, seed, dtype))
        ones = torch.ones(1, 1, dtype=got["readout.bias"].dtype)
        assert torch.equal(got["rnn.weight_hh_l0"], ones)
        assert torch.count_nonzero(got["rnn.bias_ih_l0"]) == 0
        assert torch.count_nonzero(got["rnn.bias_hh_l0"]) == 0
        for k in ("rnn.weight_ih_l0", "readout.weight", "readout.bias"):
            assert torch.equal(got[k], torch_init[k]), k
    # hidden size 3 (reference engine): the identity matrix
    w = initial_model(TrainConfig(cell="relu", hidden_size=3, init="irnn")).rnn.weight_hh_l0
    assert torch.equal(w, torch.eye(3, dtype=w.dtype))


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_construction_init_with_noise_0_is_the_exact_counter(cell, dtype, sets):
    for extra in ({}, {"init_noise": 0.0}):
        model = initial_model(TrainConfig(cell=cell, dtype=dtype, seed=4, init="construction",
                                          **extra))
        want = state(exact_counter(cell, torch.float64 if dtype == "float64" else torch.float32))
        got = state(model)
        assert sorted(got) == sorted(want)
        for k, v in want.items():
            assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
    # it counts before any training: every word of every set right, very long and zigzag too
    for name in ("train", "validation", "long", "very_long", "zigzag"):
        m = evaluate(model, sets[name])
        assert m["fully_right"] == m["n"], name
    # and in the worst case: certified by verify before training
    from probes import verify

    v = verify(model, max_length=1000)
    assert v["certified_length"] == 1000 and v["shortest_failure"] is None and v["exact"]


def test_construction_noise_is_seeded_gaussian_on_every_parameter():
    cfg = TrainConfig(cell="lstm", seed=7, init="construction", init_noise=0.1)
    a, b = state(initial_model(cfg)), state(initial_model(cfg))
    exact = state(exact_counter("lstm"))
    rng = np.random.default_rng([7, 2])
    for k in exact:
        assert torch.equal(a[k], b[k])  # same seed, same weights
        noise = torch.as_tensor(rng.standard_normal(tuple(exact[k].shape)) * 0.1)
        assert torch.equal(a[k], exact[k] + noise), k
    other = state(initial_model(TrainConfig(cell="lstm", seed=8, init="construction",
                                            init_noise=0.1)))
    assert all(not torch.equal(other[k], a[k]) for k in a)
    diffs = torch.cat([(a[k] - exact[k]).reshape(-1) for k in a])
    assert diffs.numel() == 24 and 0.03 < diffs.std().item() < 0.3


def test_forget_bias_sets_the_sum_of_both_forget_biases():
    for init in ("torch", "construction"):
        model = initial_model(TrainConfig(cell="lstm", seed=2, init=init, forget_bias=5.0))
        base = state(initial_model(TrainConfig(cell="lstm", seed=2, init=init)))
        got = state(model)
        assert got["rnn.bias_ih_l0"][1].item() == 5.0 and got["rnn.bias_hh_l0"][1].item() == 0.0
        for k in base:
            mask = torch.ones_like(base[k], dtype=torch.bool)
            if k in ("rnn.bias_ih_l0", "rnn.bias_hh_l0"):
                mask[1] = False  # gates i f g o: only f changes
            assert torch.equal(got[k][mask], base[k][mask]), k
    h2 = initial_model(TrainConfig(cell="lstm", hidden_size=2, forget_bias=-1.5))
    assert h2.rnn.bias_ih_l0[2:4].tolist() == [-1.5, -1.5]
    assert h2.rnn.bias_hh_l0[2:4].tolist() == [0.0, 0.0]


def test_a_run_starts_from_the_init_it_records(tmp_path, sets):
    """run_training (reference and fast) and the sweep engine start from initial_model: the
    checkpoint after 1 epoch of lr 0 training is the init itself."""
    cfg = TrainConfig(cell="relu", epochs=1, lr=0.0, init="irnn", seed=3, checkpoint_epochs=(1,))
    want = state(initial_model(cfg))
    for name, factory in (("ref", None), ("fast", FastBackend)):
        h = run_training(cfg, sets, tmp_path / name, factory, progress=False)
        assert h["config"]["init"] == "irnn"
        model, meta = load_checkpoint(tmp_path / name / "checkpoints" / "epoch_01.pt")
        assert meta["config"]["init"] == "irnn"
        for k, v in want.items():
            assert torch.equal(model.state_dict()[k], v), (name, k)


# -------------------------------------------------------------------------- validation
@pytest.mark.parametrize("argv, message", [
    (["--clip", "-1"], "argument --clip: must be a finite number > 0, got '-1'"),
    (["--clip", "0"], "argument --clip: must be a finite number > 0"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got '0'"),
    (["--weight-decay", "-0.1"], "argument --weight-decay: must be a finite number >= 0"),
    (["--l1", "nan"], "argument --l1: must be a finite number >= 0"),
    (["--init-noise", "-1"], "argument --init-noise: must be a finite number >= 0"),
    (["--forget-bias", "inf"], "argument --forget-bias: must be a finite number"),
    (["--init", "xavier"], "argument --init: invalid choice"),
])
def test_bad_option_values_are_one_line_parse_errors(argv, message, data_dir, tmp_path, capsys):
    for cmd in (["train", "--cell", "lstm"], ["sweep"]):
        assert main([*cmd, "--data", str(data_dir), "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"counting {cmd[0]}: error: ")
        assert message in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv, message", [
    (["--cell", "lstm", "--init", "irnn"], "--init irnn (identity recurrence) applies to the "
                                          "relu cell only, not lstm"),
    (["--cell", "gru", "--init", "irnn"], "applies to the relu cell only, not gru"),
    (["--cell", "gru", "--init", "construction"], "no exact gru counter"),
    (["--cell", "relu", "--init-noise", "0.1"], "--init-noise applies only with --init "
                                                "construction"),
    (["--cell", "lstm", "--init", "irnn", "--init-noise", "0"], "relu cell only"),
    (["--cell", "relu", "--forget-bias", "1"], "--forget-bias applies to the lstm cell only"),
    (["--cell", "lstm", "--init", "construction", "--hidden-size", "2"], "hidden size 1"),
])
def test_options_that_do_not_apply_are_one_line_errors(argv, message, data_dir, tmp_path,
                                                       capsys):
    assert main(["train", "--data", str(data_dir), "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("counting train: error: ")
    assert message in err
    assert not (tmp_path / "x").exists()


def test_sweep_refuses_an_option_for_one_of_its_cells_before_any_work(data_dir, tmp_path,
                                                                      capsys):
    out = tmp_path / "s"
    assert main(["sweep", "--data", str(data_dir), "--out", str(out), "--forget-bias", "5",
                 "--runs", "1", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--forget-bias applies to the lstm cell only, not relu" in err
    assert not out.exists()


def test_gpu_sweep_refuses_the_options_it_does_not_implement(data_dir, tmp_path, capsys):
    for argv, flags in ((["--clip", "1"], "--clip"),
                        (["--init", "irnn", "--batch-size", "4"], "--init, --batch-size"),
                        (["--weight-decay", "1e-4", "--l1", "1e-4"], "--weight-decay, --l1")):
        assert main(["sweep", "--device", "cuda", "--data", str(data_dir), "--out",
                     str(tmp_path / "g"), *argv]) == 2
        err = capsys.readouterr().err
        assert err == (f"counting sweep: error: --device cuda does not implement {flags}; "
                       "use --device cpu for these training options\n")
    assert not (tmp_path / "g").exists()


def test_library_validation():
    with pytest.raises(ValueError, match="--clip must be a finite number > 0"):
        TrainConfig(clip=-1.0)
    with pytest.raises(ValueError, match="--batch-size must be an integer >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="--batch-size must be an integer >= 1"):
        TrainConfig(batch_size=2.5)
    with pytest.raises(ValueError, match="--l1 must be a finite number >= 0"):
        TrainConfig(l1=-1e-3)
    with pytest.raises(ValueError, match="--init must be one of torch, irnn, construction"):
        TrainConfig(init="zeros")
    # numbers are normalised: 1 and 1.0 are the same config
    assert TrainConfig(clip=1) == TrainConfig(clip=1.0)
    assert TrainConfig(cell="relu", init="construction").init_noise == 0.0
    assert non_default_options(TrainConfig()) == []
    assert non_default_options(TrainConfig(clip=2.0, batch_size=3)) == ["--clip", "--batch-size"]


# ------------------------------------------------------------------------- recording
def test_options_are_recorded_in_history_and_sweep_summary(tmp_path, sets):
    opts = {"init": "construction", "init_noise": 0.05, "forget_bias": 4.0, "clip": 1.0,
            "batch_size": 8, "weight_decay": 1e-4, "l1": 1e-5}
    rows = run_sweep(sets, tmp_path / "s", cells=("lstm",), runs=2, epochs=2, progress=False,
                     **opts)
    with open(tmp_path / "s" / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert tuple(table[0]) == ROW_KEYS and ROW_KEYS[-len(OPTION_FIELDS):] == OPTION_FIELDS
    for row, line in zip(rows, table, strict=True):
        for k, v in opts.items():
            assert row[k] == v and type(v)(line[k]) == v
        hist = json.loads((Path(row["dir"]) / "history.json").read_text())
        assert {k: hist["config"][k] for k in opts} == opts
    # the sweep's runs are what `counting train` with the same options writes (the options
    # travel per run through the ModelBank)
    cfg = TrainConfig(cell="lstm", epochs=2, seed=rows[1]["seed"], **opts)
    alone = run_training(cfg, sets, None, FastBackend, progress=False)
    hist = json.loads((Path(rows[1]["dir"]) / "history.json").read_text())
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h["epochs"]]  # noqa: E731
    assert strip(hist) == strip(alone)
    # defaults: empty CSV cells for None, and other options in that directory are refused
    run_sweep(sets, tmp_path / "s", cells=("lstm",), runs=2, epochs=2, progress=False, **opts)
    with pytest.raises(ValueError, match="train_options"):
        run_sweep(sets, tmp_path / "s", cells=("lstm",), runs=2, epochs=2, progress=False,
                  **{**opts, "clip": 2.0})
    rows = run_sweep(sets, tmp_path / "d", cells=("gru",), runs=1, epochs=1, progress=False)
    assert {k: rows[0][k] for k in OPTION_FIELDS} == {
        "init": "torch", "init_noise": None, "forget_bias": None, "clip": None,
        "batch_size": 1, "weight_decay": 0.0, "l1": 0.0}
    line = (tmp_path / "d" / "summary.csv").read_text().splitlines()[1]
    assert line.endswith(",torch,,,,1,0.0,0.0")


def test_train_command_records_the_options(data_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--cell", "relu", "--data", str(data_dir), "--out", str(out),
                 "--epochs", "1", "--init", "irnn", "--clip", "0.5", "--batch-size", "3",
                 "--weight-decay", "0.001", "--l1", "0.0001"]) == 0
    cfg = json.loads((out / "history.json").read_text())["config"]
    assert {k: cfg[k] for k in OPTION_FIELDS} == {
        "init": "irnn", "init_noise": None, "forget_bias": None, "clip": 0.5, "batch_size": 3,
        "weight_decay": 0.001, "l1": 0.0001}


# ------------------------------------------------------------------------------ data
def test_train_lengths_default_is_the_paper_profile_and_ranges_are_honoured(tmp_path):
    assert make_datasets("smoke", 1, False, train_lengths=(2, 50)) == make_datasets(
        "smoke", 1, False)
    assert PROFILES["paper"].short_len == (2, 50) and PROFILES["paper"].long_len == (52, 100)
    out = tmp_path / "d"
    assert main(["data", "--out", str(out), "--profile", "smoke", "--seed", "1",
                 "--train-lengths", "6-30"]) == 0
    stamp = json.loads((out / "dataset.json").read_text())
    assert stamp == {"profile": "smoke", "seed": 1, "train_lengths": [6, 30],
                     "long_lengths": [32, 60]}
    got = load_datasets(out)
    for name, (lo, hi) in (("train", (6, 30)), ("validation", (6, 30)), ("long", (32, 60))):
        lengths = {len(w) for w in got[name]}
        assert min(lengths) >= lo and max(lengths) <= hi, name
    assert max(len(w) for w in got["train"]) == 30  # the range is used, not just allowed


@pytest.mark.parametrize("bad, message", [
    ("1-50", "must be A-B with 2 <= A <= B, got '1-50'"),
    ("60-50", "must be A-B with 2 <= A <= B, got '60-50'"),
    ("2:50", "expected a length range A-B, got '2:50'"),
])
def test_bad_train_lengths_are_one_line_errors(bad, message, tmp_path, capsys):
    assert main(["data", "--out", str(tmp_path / "d"), "--train-lengths", bad]) == 2
    err = capsys.readouterr().err
    assert err == f"counting data: error: argument --train-lengths: {message}\n"
    with pytest.raises(ValueError, match="2 <= A <= B"):
        make_datasets("smoke", 0, False, train_lengths=(1, 50))


def test_construction_init_needs_no_constructions_import_in_counting():
    """counting imports constructions only inside the construction init."""
    import subprocess

    code = ("import sys, counting.training, counting.sweep, counting.engine.runs, "
            "counting.commands.train; assert 'constructions' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
