import json
import math

import numpy as np
import pytest
import torch

from counting.checkpoint import load_checkpoint
from counting.datasets import make_datasets
from counting.training import ReferenceBackend, TrainConfig, run_training, shuffle_orders


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=1, progress=False)
    return {"train": s["train"][:60], "validation": s["validation"][:30], "long": s["long"][:10]}


def test_shuffle_orders_are_seeded_permutations():
    a = shuffle_orders(4, 50, 3)
    assert a.shape == (3, 50)
    assert all(sorted(row) == list(range(50)) for row in a.tolist())
    assert np.array_equal(a, shuffle_orders(4, 50, 3))
    assert not np.array_equal(a, shuffle_orders(5, 50, 3))
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
def test_same_seed_gives_identical_weights(tmp_path, sets, cell):
    cfg = TrainConfig(cell=cell, epochs=2, seed=9)
    run_training(cfg, sets, tmp_path / "a", progress=False)
    run_training(cfg, sets, tmp_path / "b", progress=False)
    a, _ = load_checkpoint(tmp_path / "a" / "checkpoints" / "epoch_01.pt")
    b, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "epoch_01.pt")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    ha = json.loads((tmp_path / "a" / "history.json").read_text())
    hb = json.loads((tmp_path / "b" / "history.json").read_text())
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h["epochs"]]  # noqa: E731
    assert strip(ha) == strip(hb)


def test_loss_falls_on_a_small_set(sets):
    h = run_training(TrainConfig(cell="lstm", epochs=5, seed=0), sets, progress=False)
    losses = [r["train_loss_online"] for r in h["epochs"]]
    assert losses[-1] < 0.5 * losses[0], losses


def test_history_best_epoch_and_checkpoints(tmp_path, sets):
    h = run_training(TrainConfig(cell="relu", epochs=6, seed=2), sets, tmp_path, progress=False)
    val = [r["validation_loss"] for r in h["epochs"]]
    assert h["best_epoch"] == int(np.argmin(val)) + 1
    assert h["best_validation_loss"] == min(val)
    for r in h["epochs"]:
        for k in (
            "train_loss",
            "validation_loss",
            "long_loss",
            "train_accuracy",
            "validation_accuracy",
            "long_accuracy",
            "seconds",
            "train_loss_online",
        ):
            assert k in r and math.isfinite(r[k])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch_01.pt",
        "epoch_05.pt",
    ]
    best, meta = load_checkpoint(tmp_path / "best.pt")
    assert meta["epoch"] == h["best_epoch"]
    assert json.loads((tmp_path / "history.json").read_text())["best_epoch"] == h["best_epoch"]


def test_validation_loss_is_the_true_mean_over_sequences(sets):
    h = run_training(TrainConfig(cell="gru", epochs=1, seed=0), sets, progress=False)
    # recompute with an independent loop over sequences
    from counting.dyck import one_hot, targets
    from counting.models import init_model

    model = init_model("gru", 1, 0, "float64")
    be = ReferenceBackend(model, sets["train"], TrainConfig(cell="gru", epochs=1))
    be.train_epoch(shuffle_orders(0, len(sets["train"]), 1)[0])
    with torch.no_grad():
        per_seq = [
            torch.mean(
                (model(torch.as_tensor(one_hot(s))) - torch.as_tensor(targets(s))) ** 2
            ).item()
            for s in sets["validation"]
        ]
    assert h["epochs"][0]["validation_loss"] == pytest.approx(np.mean(per_seq), rel=1e-12)


class NaNAtEpoch2(ReferenceBackend):
    name = "nan-at-2"
    calls = 0

    def train_epoch(self, order):
        NaNAtEpoch2.calls += 1
        loss = super().train_epoch(order)
        return float("nan") if NaNAtEpoch2.calls == 2 else loss


def test_a_diverged_run_stops_and_is_recorded(tmp_path, sets):
    NaNAtEpoch2.calls = 0
    h = run_training(
        TrainConfig(cell="lstm", epochs=5), sets, tmp_path, NaNAtEpoch2, progress=False
    )
    assert h["diverged"] and h["diverged_at_epoch"] == 2 and len(h["epochs"]) == 2
    assert h["best_epoch"] == 1
    assert json.loads((tmp_path / "history.json").read_text())["diverged"] is True


class InfiniteRecurrence(ReferenceBackend):
    """The real torch path with W_hh = inf: the forward pass itself produces NaN/inf."""

    name = "inf-w_hh"

    def __init__(self, model, train_seqs, config):
        super().__init__(model, train_seqs, config)
        with torch.no_grad():
            model.rnn.weight_hh_l0.fill_(float("inf"))


@pytest.mark.parametrize("cell", ["relu", "lstm", "gru"])
def test_a_non_finite_loss_from_the_model_is_caught(tmp_path, sets, cell):
    h = run_training(TrainConfig(cell=cell, epochs=3), sets, tmp_path, InfiniteRecurrence,
                     progress=False)
    assert h["diverged"] and h["diverged_at_epoch"] == 1 and h["best_epoch"] is None
    assert not (tmp_path / "best.pt").exists()
    assert json.loads((tmp_path / "history.json").read_text())["diverged"] is True


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="loss must be"):
        TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="epochs must be"):
        TrainConfig(epochs=0)
    assert TrainConfig(cell="gru").lr == 0.001 and TrainConfig(cell="relu").lr == 0.01
