"""The authors' training protocol as switches (issue 22): --selection, --sessions,
--stage-epochs and --protocol in train, sweep, reproduce and robustness."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from counting.checkpoint import load_checkpoint
from counting.datasets import make_datasets, write_datasets
from counting.metrics import evaluate
from counting.training import (
    CHECKPOINT_EPOCHS,
    BestTracker,
    EpochStreams,
    TrainConfig,
    config_record,
    protocol_name,
    protocol_values,
    run_training,
    shuffle_orders,
)

OLD_CONFIG_KEYS = ["cell", "hidden_size", "epochs", "lr", "loss", "seed", "dtype",
                   "checkpoint_epochs", "init", "init_noise", "forget_bias", "clip",
                   "batch_size", "weight_decay", "l1"]
OLD_HISTORY_KEYS = ["config", "backend", "meta", "epochs", "best_epoch",
                    "best_validation_loss", "diverged", "diverged_at_epoch"]


def cli(argv: list[str]) -> int:
    """The full `counting` command line (the application's main where it is installed)."""
    try:
        from counting_app.cli import main
    except ImportError:
        try:
            from counting.cli import COMMANDS, add_commands, new_parser
            from counting.contract import run
        except ImportError:  # the registry of older trees
            from counting.cli import main
        else:
            import paper_figs.cli
            import paper_figs.robustness_cli

            def main(a):
                modules = (*COMMANDS, paper_figs.cli, paper_figs.robustness_cli)
                return run(add_commands(new_parser(), modules), a)
    return main(argv)


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=1, progress=False)
    return {"train": s["train"][:40], "validation": s["validation"][:25], "long": s["long"][:8]}


# ---- the defaults: what was there before the switches --------------------------------------


def test_paper_protocol_records_exactly_the_old_keys(tmp_path, sets):
    config = TrainConfig(cell="gru", epochs=2)
    assert list(config_record(config)) == OLD_CONFIG_KEYS
    h = run_training(config, sets, tmp_path, progress=False)
    assert list(h) == OLD_HISTORY_KEYS and list(h["config"]) == OLD_CONFIG_KEYS
    assert all("validation_loss_logged" not in e for e in h["epochs"])
    meta = load_checkpoint(tmp_path / "best.pt")[1]
    assert list(meta["config"]) == OLD_CONFIG_KEYS
    assert protocol_values(None) == protocol_values("paper")
    assert protocol_name(protocol_values(None)) == "paper"


def test_paper_protocol_orders_are_shuffle_orders():
    config = TrainConfig(cell="lstm", seed=7)
    s = EpochStreams(config, 50, 20)
    got = [s.next() for _ in range(30)]
    assert all(last is None for _, last in got)
    np.testing.assert_array_equal(np.stack([o for o, _ in got]), shuffle_orders(7, 50, 30))


def test_paper_protocol_sweep_summary_has_the_old_columns(tmp_path, sets):
    from counting.sweep import ROW_KEYS, run_sweep

    run_sweep(sets, tmp_path, cells=("gru",), runs=1, epochs=2, progress=False, jobs=1)
    with open(tmp_path / "summary.csv") as fh:
        assert tuple(next(csv.reader(fh))) == ROW_KEYS
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert "selection" not in manifest["train_options"]["gru"]


# ---- selection -------------------------------------------------------------------------------


def test_selection_authors_against_a_hand_computed_case():
    """The logged loss decides, and only epochs 1-20 count; the first minimum wins."""
    config = TrainConfig(cell="gru", selection="authors")
    history = {"best_epoch": None, "best_validation_loss": None}
    best = BestTracker(config, history)
    logged = {1: 0.5, 2: 0.2, 3: 0.3, 4: 0.2, 21: 0.01}  # 21 is lower but out of range
    mean = {1: 0.1, 2: 0.4, 3: 0.05, 4: 0.3, 21: 0.001}
    chosen = [best.update({"epoch": e, "validation_loss": mean[e],
                           "validation_loss_logged": logged[e]}) for e in logged]
    assert chosen == [True, True, False, False, False]
    assert history["best_epoch"] == 2 and history["best_validation_loss"] == 0.2
    assert history["best_validation_loss_mean"] == 0.4 and history["selection"] == "authors"
    # the same records under "mean": the true mean over all epochs
    h2 = {"best_epoch": None, "best_validation_loss": None}
    b2 = BestTracker(TrainConfig(cell="gru"), h2)
    for e in logged:
        b2.update({"epoch": e, "validation_loss": mean[e]})
    assert h2 == {"best_epoch": 21, "best_validation_loss": 0.001}


def test_logged_loss_is_the_last_shuffled_words_loss_over_the_set_size(tmp_path, sets):
    config = TrainConfig(cell="lstm", epochs=3, seed=5, selection="authors",
                         checkpoint_epochs=(1, 2, 3))
    h = run_training(config, sets, tmp_path, progress=False)
    n = len(sets["validation"])
    rng = np.random.default_rng([5, 2])
    for e, rec in enumerate(h["epochs"], 1):
        last = rng.permutation(n)[-1]
        model = load_checkpoint(tmp_path / "checkpoints" / f"epoch_{e:02d}.pt")[0]
        word = evaluate(model, [sets["validation"][last]])["loss"]
        assert rec["validation_loss_logged"] == pytest.approx(word / n, rel=1e-12)
        assert rec["validation_loss"] == pytest.approx(
            evaluate(model, sets["validation"])["loss"], rel=1e-12)  # the true mean too
    logged = [r["validation_loss_logged"] for r in h["epochs"]]
    assert h["best_epoch"] == 1 + int(np.argmin(logged))
    assert h["best_validation_loss"] == min(logged)
    assert h["best_validation_loss_mean"] == h["epochs"][h["best_epoch"] - 1]["validation_loss"]
    assert h["config"]["selection"] == "authors"


# ---- sessions --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sessions_authors_epoch_21_repeats_epoch_1(cell):
    s = EpochStreams(TrainConfig(cell=cell, seed=3, sessions="authors",
                                 selection="authors"), 40, 25)
    got = [s.next() for _ in range(30)]
    ours = shuffle_orders(3, 40, 30)
    for e in range(20):  # the first session is the paper protocol's stream
        np.testing.assert_array_equal(got[e][0], ours[e])
    for k in range(10):  # epoch 21 + k repeats epoch 1 + k, the logged word too
        np.testing.assert_array_equal(got[20 + k][0], got[k][0])
        assert got[20 + k][1] == got[k][1]
    assert not np.array_equal(got[20][0], ours[20])


def test_sessions_authors_leave_relu_in_one_session():
    s = EpochStreams(TrainConfig(cell="relu", seed=3, sessions="authors"), 40, 25)
    np.testing.assert_array_equal(np.stack([s.next()[0] for _ in range(30)]),
                                  shuffle_orders(3, 40, 30))


def test_engine_sweep_equals_train_under_the_authors_protocol(tmp_path, sets):
    """22 epochs (a second session of 2) on the engine's grid and in `run_training` with the
    fast backend: the same histories, bit for bit but the wall times."""
    from counting.engine import FastBackend
    from counting.engine.runs import RunSpec, train_runs

    config = TrainConfig(cell="gru", epochs=22, seed=11, selection="authors",
                         sessions="authors", checkpoint_epochs=(1, 6, 11, 16, 21))
    a = run_training(config, sets, tmp_path / "a", backend_factory=FastBackend, progress=False)
    b = train_runs([RunSpec(config, tmp_path / "b", {}, "x")], sets, progress=False)[0]
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in a["epochs"]]
    assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in b["epochs"]]
    assert {k: v for k, v in a.items() if k not in ("epochs", "backend")} == \
        {k: v for k, v in b.items() if k not in ("epochs", "backend")}
    assert a["best_epoch"] <= 20
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == [
        f"epoch_{e:02d}.pt" for e in (1, 6, 11, 16, 21)]


# ---- reproduce, robustness and the command line --------------------------------------------


@pytest.fixture(scope="module")
def authors_reproduction(tmp_path_factory):
    base = tmp_path_factory.mktemp("protocol")
    out = base / "repro"
    assert cli(["reproduce", "--profile", "smoke", "--out", str(out), "--jobs", "1",
                "--protocol", "authors"]) == 0
    return out


def test_reproduce_protocol_authors_on_the_smoke_fixture(authors_reproduction):
    out = authors_reproduction
    sel = json.loads((out / "results" / "selection.json").read_text())
    assert sel["protocol"] == {"name": "authors", "selection": "authors",
                               "sessions": "authors", "stage_epochs": "authors"}
    assert sel["plan"]["stage_epochs"] == [1]  # 1, 6, 11, ... within the smoke plan's 5
    assert all("best_validation_loss_mean" in r for c in sel["cells"].values() for r in c)
    report = (out / "report.md").read_text()
    assert "Protocol: `authors`" in report
    assert "online loss" in (out / "table2.md").read_text()
    with open(out / "sweep" / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["selection"] for r in rows} == {"authors"}
    assert {r["checkpoint_epochs"] for r in rows} == {"1,6,11,16,21,26"}
    h = json.loads((out / "sweep" / "gru" / "run_00" / "history.json").read_text())
    assert h["config"]["sessions"] == "authors" and h["selection"] == "authors"
    assert all("validation_loss_logged" in e for e in h["epochs"])


def test_robustness_refuses_a_seed_of_another_protocol(authors_reproduction, tmp_path):
    import shutil

    from paper_figs.robustness import check_complete

    shutil.copytree(authors_reproduction, tmp_path / "seed_0")
    check_complete(tmp_path, 0, "smoke", None, "authors")
    with pytest.raises(ValueError, match="protocol"):
        check_complete(tmp_path, 0, "smoke", None, "paper")


def test_train_protocol_authors_on_the_command_line(tmp_path, sets, capsys):
    write_datasets(tmp_path / "d", sets)
    assert cli(["train", "--cell", "lstm", "--data", str(tmp_path / "d"), "--epochs", "2",
                "--out", str(tmp_path / "r"), "--protocol", "authors",
                "--sessions", "one"]) == 0
    assert "selection authors" in capsys.readouterr().out
    h = json.loads((tmp_path / "r" / "history.json").read_text())
    assert h["config"]["selection"] == "authors" and "sessions" not in h["config"]
    assert h["config"]["checkpoint_epochs"] == [1, 6, 11, 16, 21, 26]
    assert CHECKPOINT_EPOCHS == (1, 5, 10, 15, 20, 25)


@pytest.mark.parametrize("argv,pattern", [
    (["train", "--cell", "gru", "--data", "d", "--out", "o", "--selection", "last"],
     "counting train: error: argument --selection: invalid choice: 'last'"),
    (["sweep", "--data", "d", "--out", "o", "--sessions", "two"],
     "counting sweep: error: argument --sessions: invalid choice: 'two'"),
    (["reproduce", "--protocol", "theirs"],
     "counting reproduce: error: argument --protocol: invalid choice: 'theirs'"),
    (["robustness", "--seeds", "0:2", "--out", "o", "--stage-epochs", "1,6"],
     "counting robustness: error: argument --stage-epochs: invalid choice: '1,6'"),
])
def test_bad_protocol_values_are_one_line_and_exit_2(argv, pattern, tmp_path, capsys,
                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli(argv)
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(pattern)


def test_gpu_sweep_refuses_the_authors_protocol(tmp_path, sets, capsys):
    write_datasets(tmp_path / "d", sets)
    code = cli(["sweep", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"),
                "--device", "cuda", "--protocol", "authors"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--device cuda does not implement --selection, --sessions, --stage-epochs" in err


def test_bad_protocol_in_the_python_api():
    from paper_figs.reproduce import resolve_protocol

    with pytest.raises(ValueError, match="protocol must be one of"):
        resolve_protocol("theirs")
    with pytest.raises(ValueError, match="selection must be one of"):
        resolve_protocol({"selection": "last"})
    with pytest.raises(ValueError, match="--sessions must be one of"):
        TrainConfig(sessions="two")
    assert math.isclose(1.0, 1.0)
