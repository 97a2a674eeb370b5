"""Training: the epoch driver shared by every backend, and the plain-torch reference backend.

Protocol (paper Section 2 + the authors' code): online training, one Adam step per sequence,
a fresh seeded shuffle every epoch, lr 0.01 (LSTM, ReLU) / 0.001 (GRU), 30 epochs, MSE over
the T x 2 outputs (BCE on request). After every epoch the driver records the online training
loss, the wall time of the epoch's training (`seconds`), and the true mean loss and sequence
accuracy on train / validation / long. It keeps the best epoch by validation loss over all
epochs (`best.pt`), checkpoints after epochs 1, 5, 10, 15, 20, 25, and stops a run whose loss
becomes NaN/inf, recording it as diverged.

Training options (TrainConfig fields; defaults = the protocol above, bit for bit):
- init, init_noise, forget_bias: the initial weights (`counting.inits.initial_model`).
- batch_size B: B words per Adam step, taken in the epoch's shuffled order (the last batch
  may be short). The optimised objective is the mean over the batch of each word's mean
  loss, (l_1 + ... + l_B) / B; words are not padded together (padding and averaging over
  tokens would weight long words more). B = 1 is online training.
- l1 L: L * sum |w| over every parameter (recurrent, input, biases, readout) is added to
  the optimised objective; its gradient is L * sign(w), 0 at w = 0 (torch's abs backward).
- clip NORM: before each Adam step, the gradient (the L1 term's included) is scaled as by
  `torch.nn.utils.clip_grad_norm_(params, NORM)`: total = the L2 norm of all parameters'
  gradients together, coef = NORM / (total + 1e-6) clamped at 1, grad *= coef.
- weight_decay W: torch Adam's `weight_decay` (grad += W * param inside the step, after
  clipping, before the moments).
Recorded losses (train_loss_online and the evaluations) are always the data loss, without
the penalties: train_loss_online is the mean over the epoch's words of each word's loss.

The authors' protocol (issue 22; TrainConfig fields, recorded in history.json's config only
when not the defaults, so a paper-protocol run writes exactly what it always wrote):
- selection "authors": each epoch also records `validation_loss_logged`, the loss of the
  last word of that epoch's seeded shuffle of the validation set divided by the number of
  words (what the authors' code logged); best.pt is the epoch with the lowest logged loss
  among epochs 1-20 (`BestTracker`); the history's best_validation_loss is that logged
  loss and best_validation_loss_mean the epoch's true mean.
- sessions "authors": LSTM and GRU train in the authors' two sessions, 20 epochs then 10
  more with the shuffle streams restarting (epoch 21 repeats epoch 1's order); weights and
  Adam state carry on, as their reload of both did (`EpochStreams`). ReLU: one session.
- checkpoint_epochs = STAGE_EPOCHS["authors"] (1, 6, 11, 16, 21, 26): their stage models.
A run stops after the first Adam step whose batch has a non-finite loss.

A backend implements `train_epoch(order) -> mean online loss`, `evaluate(seqs) -> metrics
dict`, and `to_model() -> CounterRNN`. The reference backend here is the oracle every faster
path is tested against.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from counting.checkpoint import save_checkpoint
from counting.dyck import one_hot, targets
from counting.fileformat import write_json_atomic
from counting.inits import check_init_options, initial_model
from counting.metrics import evaluate
from counting.models import CounterRNN, resolve_dtype

DEFAULT_LR = {"lstm": 0.01, "relu": 0.01, "gru": 0.001}
CHECKPOINT_EPOCHS = (1, 5, 10, 15, 20, 25)
EVAL_SETS = ("train", "validation", "long")

# The authors' training protocol as switches (issue 22; docs/DEVIATIONS.md rows 1-3, 5, 7).
SELECTIONS = ("mean", "authors")  # selection rule for the best epoch
SESSIONS = ("one", "authors")  # one session, or the authors' 20 + 10 (LSTM and GRU)
STAGE_EPOCHS = {"paper": CHECKPOINT_EPOCHS, "authors": (1, 6, 11, 16, 21, 26)}
PROTOCOLS = {
    "paper": {"selection": "mean", "sessions": "one", "stage_epochs": "paper"},
    "authors": {"selection": "authors", "sessions": "authors", "stage_epochs": "authors"},
}
PROTOCOL_FIELDS = ("selection", "sessions")  # TrainConfig fields; recorded when not default
AUTHORS_SELECTION_EPOCHS = 20  # selection authors: best = min logged loss over epochs 1-20
AUTHORS_SESSION_EPOCHS = 20  # sessions authors: the shuffle stream restarts after epoch 20
SESSION_CELLS = ("lstm", "gru")  # the cells the authors trained in two sessions


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
    # Training options (issue 11); the defaults are the paper's protocol. See the docstring.
    init: str = "torch"  # "torch" | "irnn" | "construction" (counting.inits)
    init_noise: float | None = None  # construction init only (None there means 0)
    forget_bias: float | None = None  # LSTM only: b_ih[f] = B, b_hh[f] = 0
    clip: float | None = None  # max global L2 norm of the gradient (None: no clipping)
    batch_size: int = 1  # words per Adam step
    weight_decay: float = 0.0  # torch Adam's weight_decay (L2)
    l1: float = 0.0  # L1 penalty coefficient, added to the optimised loss
    # The authors' protocol (issue 22); the defaults are ours. See `EpochStreams`.
    selection: str = "mean"  # "mean" | "authors": which validation loss picks best.pt
    sessions: str = "one"  # "one" | "authors": LSTM/GRU shuffle stream restarts at epoch 21

    def __post_init__(self):
        if self.lr is None:
            self.lr = DEFAULT_LR[self.cell]
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        resolve_dtype(self.dtype)
        self.checkpoint_epochs = tuple(self.checkpoint_epochs)
        if self.selection not in SELECTIONS:
            raise ValueError(f"--selection must be one of {', '.join(SELECTIONS)}, "
                             f"got {self.selection!r}")
        if self.sessions not in SESSIONS:
            raise ValueError(f"--sessions must be one of {', '.join(SESSIONS)}, "
                             f"got {self.sessions!r}")
        self._check_options()

    def _check_options(self) -> None:
        """Validate and normalise the training options (floats as float, so that a value
        given as 1 or 1.0 records and compares the same); ValueError names the CLI option."""
        for name in ("init_noise", "forget_bias", "clip", "weight_decay", "l1"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise ValueError(f"{_flag(name)} must be a number, got {value!r}")
                setattr(self, name, float(value))
        if self.init == "construction" and self.init_noise is None:
            self.init_noise = 0.0
        check_init_options(self.cell, self.hidden_size, self.init, self.init_noise,
                           self.forget_bias)
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"--clip must be a finite number > 0, got {self.clip!r}")
        if (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, numbers.Integral)
                or self.batch_size < 1):
            raise ValueError(f"--batch-size must be an integer >= 1, got {self.batch_size!r}")
        self.batch_size = int(self.batch_size)
        for name in ("weight_decay", "l1"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{_flag(name)} must be a finite number >= 0, got {value!r}")


OPTION_FIELDS = ("init", "init_noise", "forget_bias", "clip", "batch_size", "weight_decay", "l1")
LOOP_OPTIONS = ("clip", "batch_size", "weight_decay", "l1")  # act in the training loop


def non_default_options(values, fields=OPTION_FIELDS) -> list[str]:
    """The CLI flags of the training options among `fields` whose values in `values` (a
    TrainConfig or parsed arguments; a missing attribute counts as default) differ from
    the defaults, e.g. ["--clip", "--batch-size"] - for backends that refuse them."""
    default = TrainConfig()
    return [_flag(k) for k in fields
            if getattr(values, k, getattr(default, k)) != getattr(default, k)]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_record(config: TrainConfig) -> dict:
    """asdict(config) as history.json and checkpoints record it: the protocol fields
    (PROTOCOL_FIELDS) only when they differ from the defaults, so that a run under the
    paper protocol writes exactly what it wrote before they existed."""
    record = asdict(config)
    default = TrainConfig()
    for k in PROTOCOL_FIELDS:
        if record[k] == getattr(default, k):
            del record[k]
    return record


def protocol_values(protocol: str | None, selection: str | None = None,
                    sessions: str | None = None, stage_epochs: str | None = None) -> dict:
    """The three switches resolved: each given one as given, the others from `protocol`
    (None: "paper") -> {"selection", "sessions", "stage_epochs"} (the last a name of
    STAGE_EPOCHS)."""
    base = PROTOCOLS[protocol or "paper"]
    given = {"selection": selection, "sessions": sessions, "stage_epochs": stage_epochs}
    return {k: (v if v is not None else base[k]) for k, v in given.items()}


def protocol_name(values: dict) -> str:
    """"paper", "authors", or "mixed" for resolved switches (`protocol_values`)."""
    for name, p in PROTOCOLS.items():
        if all(values.get(k) == v for k, v in p.items()):
            return name
    return "mixed"


def session_epochs(config: TrainConfig) -> int | None:
    """Epochs per training session: AUTHORS_SESSION_EPOCHS for an LSTM or GRU under
    sessions "authors", else None (one session)."""
    if config.sessions == "authors" and config.cell in SESSION_CELLS:
        return AUTHORS_SESSION_EPOCHS
    return None


def selection_epochs(config: TrainConfig) -> int | None:
    """The last epoch eligible as best: AUTHORS_SELECTION_EPOCHS under selection "authors",
    else None (every epoch)."""
    return AUTHORS_SELECTION_EPOCHS if config.selection == "authors" else None


class EpochStreams:
    """The per-epoch random draws of a run, epoch after epoch (`next()`).

    - The training order: numpy PCG64 seeded with (seed, 1), one permutation per epoch -
      exactly `shuffle_orders`. Under sessions "authors" (LSTM, GRU) the stream is re-seeded
      at the start of every session of AUTHORS_SESSION_EPOCHS epochs, so epoch 21 repeats
      epoch 1's order, 22 epoch 2's, ..., as the authors' second session (re-seeded, their
      DataLoader's shuffle restarting) did. The weights and the Adam state (moments and step
      count) carry on, as theirs did (they reload both from the epoch-20 checkpoint).
    - Under selection "authors", the validation word whose loss is logged: the last index of
      a permutation of the validation set drawn from PCG64 seeded with (seed, 2) (restarting
      with the sessions too) - the last word of that epoch's seeded shuffle.
    """

    def __init__(self, config: TrainConfig, n_train: int, n_validation: int):
        self.config, self.n, self.n_val = config, int(n_train), int(n_validation)
        self.session = session_epochs(config)
        self.epoch = 0
        self._restart()

    def _restart(self) -> None:
        self.train_rng = np.random.default_rng([self.config.seed, 1])
        self.val_rng = np.random.default_rng([self.config.seed, 2])

    def next(self) -> tuple[np.ndarray, int | None]:
        """-> (the next epoch's training order (int64), the logged validation word's index
        or None under selection "mean")."""
        if self.session and self.epoch and self.epoch % self.session == 0:
            self._restart()
        self.epoch += 1
        order = self.train_rng.permutation(self.n) if self.n else np.zeros(0, np.int64)
        last = None
        if self.config.selection == "authors" and self.n_val:
            last = int(self.val_rng.permutation(self.n_val)[-1])
        return order, last


def logged_loss(word_loss: float, n_validation: int) -> float:
    """The authors' logged validation loss: one word's mean loss / the set's size."""
    return float(word_loss) / n_validation


class BestTracker:
    """The best epoch under a run's selection rule (the driver's bookkeeping, shared by
    `run_training` and the engine's `train_runs`). Under "mean": the lowest true mean
    validation loss over all epochs. Under "authors": the lowest logged loss
    (`logged_loss`) over epochs 1-AUTHORS_SELECTION_EPOCHS; the history then also records
    the true mean of that epoch as "best_validation_loss_mean". The first minimum wins."""

    def __init__(self, config: TrainConfig, history: dict):
        self.last = selection_epochs(config)
        self.authors = config.selection == "authors"
        self.history = history
        self.best = math.inf
        if self.authors:
            history["selection"] = "authors"
            history["best_validation_loss_mean"] = None

    def update(self, record: dict) -> bool:
        """After a finite epoch's record: -> True when it is the new best (history updated)."""
        epoch = record["epoch"]
        if self.last is not None and epoch > self.last:
            return False
        value = record["validation_loss_logged"] if self.authors else record["validation_loss"]
        if not value < self.best:
            return False
        self.best = value
        self.history["best_epoch"] = epoch
        self.history["best_validation_loss"] = value
        if self.authors:
            self.history["best_validation_loss_mean"] = record["validation_loss"]
        return True


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
    """Plain torch: nn.LSTM/RNN/GRU forward, autograd, torch.optim.Adam (single-tensor).

    The training options (module docstring) are torch's own: the batch objective
    torch.stack(losses).sum() / B, the L1 term in the autograd graph,
    torch.nn.utils.clip_grad_norm_, and Adam's weight_decay.
    """

    name = "reference"

    def __init__(self, model: CounterRNN, train_seqs: list[str], config: TrainConfig):
        self.model = model
        self.config = config
        dt = model.dtype
        self.inputs = [torch.as_tensor(one_hot(s), dtype=dt).unsqueeze(0) for s in train_seqs]
        self.targets = [torch.as_tensor(targets(s), dtype=dt).unsqueeze(0) for s in train_seqs]
        self.loss_fn = torch.nn.MSELoss() if config.loss == "mse" else torch.nn.BCELoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=False,
                                          weight_decay=config.weight_decay)

    def train_epoch(self, order: np.ndarray) -> float:
        self.model.train()
        size, l1, clip = self.config.batch_size, self.config.l1, self.config.clip
        params = list(self.model.parameters())
        total = 0.0
        for j in range(0, len(order), size):
            batch = order[j : j + size]
            self.optimizer.zero_grad()
            losses = [self.loss_fn(self.model(self.inputs[k]), self.targets[k]) for k in batch]
            objective = losses[0] if len(losses) == 1 else torch.stack(losses).sum() / len(losses)
            if l1:
                objective = objective + l1 * torch.stack([p.abs().sum() for p in params]).sum()
            objective.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            self.optimizer.step()
            value = 0.0
            for loss in losses:  # in order, as the engine adds them
                value += loss.item()
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
    model = initial_model(config)
    backend = backend_factory(model, sets["train"], config)
    streams = EpochStreams(config, len(sets["train"]), len(sets["validation"]))
    out_dir = Path(out_dir) if out_dir is not None else None
    history = {
        "config": config_record(config),
        "backend": backend.name,
        "meta": dict(meta or {}),
        "epochs": [],
        "best_epoch": None,
        "best_validation_loss": None,
        "diverged": False,
        "diverged_at_epoch": None,
    }
    ckpt_meta = {"config": config_record(config), **dict(meta or {})}
    best = BestTracker(config, history)
    bar = tqdm(
        range(1, config.epochs + 1), desc=f"train {config.cell}", unit="epoch", disable=not progress
    )
    for epoch in bar:
        order, logged = streams.next()
        t0 = time.perf_counter()
        online = backend.train_epoch(order)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss_online": online, "seconds": seconds}
        if _finite(online):
            for name in EVAL_SETS:
                if sets.get(name):
                    m = backend.evaluate(sets[name])
                    record[f"{name}_loss"] = m["loss"]
                    record[f"{name}_accuracy"] = m["accuracy"]
            if logged is not None:
                word = backend.evaluate([sets["validation"][logged]])["loss"]
                record["validation_loss_logged"] = logged_loss(word, len(sets["validation"]))
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
        if best.update(record):
            if out_dir is not None:
                save_checkpoint(
                    backend.to_model(), out_dir / "best.pt", {**ckpt_meta, "epoch": epoch}
                )
        if out_dir is not None:
            write_json_atomic(out_dir / "history.json", history)
        bar.set_postfix(val_loss=f"{val:.3g}", best=history["best_epoch"])
    return history
