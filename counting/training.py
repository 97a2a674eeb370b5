"""Training: the epoch driver shared by every backend, and the plain-torch reference backend.

Protocol (paper Section 2 + the authors' code): online training, one Adam step per sequence,
a fresh seeded shuffle every epoch, lr 0.01 (LSTM, ReLU) / 0.001 (GRU), 30 epochs, MSE over
the T x 2 outputs (BCE on request). After every epoch the driver records the online training
loss, the wall time of the epoch's training (`seconds`), and the true mean loss and sequence
accuracy on train / validation / long. It keeps the best epoch by validation loss over all
epochs (`best.pt`), checkpoints after epochs 1, 5, 10, 15, 20, 25, and stops a run whose loss
becomes NaN/inf, recording it as diverged.

A backend implements `train_epoch(order) -> mean online loss`, `evaluate(seqs) -> metrics
dict`, and `to_model() -> CounterRNN`. The reference backend here is the oracle every faster
path is tested against.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from counting.checkpoint import save_checkpoint
from counting.dyck import one_hot, targets
from counting.fileformat import write_json_atomic
from counting.metrics import evaluate
from counting.models import CounterRNN, init_model, resolve_dtype

DEFAULT_LR = {"lstm": 0.01, "relu": 0.01, "gru": 0.001}
CHECKPOINT_EPOCHS = (1, 5, 10, 15, 20, 25)
EVAL_SETS = ("train", "validation", "long")


@dataclass
class TrainConfig:
    cell: str = "lstm"
    hidden_size: int = 1
    epochs: int = 30
    lr: float | None = None  # None: the paper's lr for the cell
    loss: str = "mse"
    seed: int = 0  # init seed; the shuffle stream is derived from it
    dtype: str = "float64"
    checkpoint_epochs: tuple[int, ...] = field(default=CHECKPOINT_EPOCHS)

    def __post_init__(self):
        if self.lr is None:
            self.lr = DEFAULT_LR[self.cell]
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        resolve_dtype(self.dtype)
        self.checkpoint_epochs = tuple(self.checkpoint_epochs)


def shuffle_orders(seed: int, n: int, epochs: int) -> np.ndarray:
    """The per-epoch presentation orders of a run, shape (epochs, n), int64.

    Drawn from numpy's PCG64 seeded with (seed, 1) - a stream separate from the init seed.
    Every backend trains on exactly these orders.
    """
    rng = np.random.default_rng([seed, 1])
    return (
        np.stack([rng.permutation(n) for _ in range(epochs)])
        if n
        else np.zeros((epochs, 0), np.int64)
    )


class ReferenceBackend:
    """Plain torch: nn.LSTM/RNN/GRU forward, autograd, torch.optim.Adam (single-tensor)."""

    name = "reference"

    def __init__(self, model: CounterRNN, train_seqs: list[str], config: TrainConfig):
        self.model = model
        self.config = config
        dt = model.dtype
        self.inputs = [torch.as_tensor(one_hot(s), dtype=dt).unsqueeze(0) for s in train_seqs]
        self.targets = [torch.as_tensor(targets(s), dtype=dt).unsqueeze(0) for s in train_seqs]
        self.loss_fn = torch.nn.MSELoss() if config.loss == "mse" else torch.nn.BCELoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=False)

    def train_epoch(self, order: np.ndarray) -> float:
        self.model.train()
        total = 0.0
        for k in order:
            self.optimizer.zero_grad()
            out = self.model(self.inputs[k])
            loss = self.loss_fn(out, self.targets[k])
            loss.backward()
            self.optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                return value
            total += value
        return total / max(len(order), 1)

    def evaluate(self, seqs: list[str]) -> dict:
        return evaluate(self.model, seqs, self.config.loss)

    def to_model(self) -> CounterRNN:
        return self.model


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def run_training(
    config: TrainConfig,
    sets: dict[str, list[str]],
    out_dir: str | Path | None = None,
    backend_factory=None,
    progress: bool = True,
    meta: dict | None = None,
) -> dict:
    """Train one run; returns the history dict (also written to OUT_DIR/history.json).

    `sets` needs "train" and "validation"; "long" is evaluated when present.
    `backend_factory(model, train_seqs, config)` defaults to ReferenceBackend.
    """
    for name in ("train", "validation"):
        if not sets.get(name):
            raise ValueError(f"training needs a non-empty {name!r} set")
    backend_factory = backend_factory or ReferenceBackend
    model = init_model(config.cell, config.hidden_size, config.seed, config.dtype)
    backend = backend_factory(model, sets["train"], config)
    orders = shuffle_orders(config.seed, len(sets["train"]), config.epochs)
    out_dir = Path(out_dir) if out_dir is not None else None
    history = {
        "config": asdict(config),
        "backend": backend.name,
        "meta": dict(meta or {}),
        "epochs": [],
        "best_epoch": None,
        "best_validation_loss": None,
        "diverged": False,
        "diverged_at_epoch": None,
    }
    ckpt_meta = {"config": asdict(config), **dict(meta or {})}
    best_loss = math.inf
    bar = tqdm(
        range(1, config.epochs + 1), desc=f"train {config.cell}", unit="epoch", disable=not progress
    )
    for epoch in bar:
        t0 = time.perf_counter()
        online = backend.train_epoch(orders[epoch - 1])
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss_online": online, "seconds": seconds}
        if _finite(online):
            for name in EVAL_SETS:
                if sets.get(name):
                    m = backend.evaluate(sets[name])
                    record[f"{name}_loss"] = m["loss"]
                    record[f"{name}_accuracy"] = m["accuracy"]
        history["epochs"].append(record)
        val = record.get("validation_loss")
        if not (_finite(online) and _finite(val)):
            history["diverged"] = True
            history["diverged_at_epoch"] = epoch
            if out_dir is not None:
                write_json_atomic(out_dir / "history.json", history)
            break
        if out_dir is not None and epoch in config.checkpoint_epochs:
            save_checkpoint(
                backend.to_model(),
                out_dir / "checkpoints" / f"epoch_{epoch:02d}.pt",
                {**ckpt_meta, "epoch": epoch},
            )
        if val < best_loss:
            best_loss = val
            history["best_epoch"] = epoch
            history["best_validation_loss"] = val
            if out_dir is not None:
                save_checkpoint(
                    backend.to_model(), out_dir / "best.pt", {**ckpt_meta, "epoch": epoch}
                )
        if out_dir is not None:
            write_json_atomic(out_dir / "history.json", history)
        bar.set_postfix(val_loss=f"{val:.3g}", best=history["best_epoch"])
    return history
