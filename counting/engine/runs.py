"""Many training runs at once on the engine, each writing exactly what `run_training` writes.

`train_runs(specs, sets, progress)` trains every run of `specs` (hidden sizes 1-8, float64,
one loss) side by side: each epoch, `ModelBank.epoch` trains every unfinished model an
epoch and evaluates it on train / validation / long (two parallel kernel calls, all models
in each). Then, per run, the driver's bookkeeping of `counting.training.run_training`, in
the same order and with the same files: the epoch record, divergence,
checkpoints/epoch_XX.pt, best.pt, history.json (backend "fast"). `seconds` in a record is
the epoch's wall time divided by the number of runs in it (the amortised time of one
model-epoch, evaluation included). Each run starts from `counting.inits.initial_model` of
its config and trains with its own training options (batch size, clip, weight decay, L1:
one row of `ModelBank.opts`). An epoch's files are written by a second thread while
the kernels run the next epoch, in order and each from its own snapshot.

Resumable: after every epoch's history files, the engine state of all runs (parameters,
Adam moments and step counts, epochs done, keyed by `spec.name`) goes atomically to ONE
file, `state_path`. A run whose history is complete is skipped. Otherwise, when the state
file holds epoch e >= 1 for it and its history holds >= e epochs, training resumes at e
from that exact state (the history is cut back to e epochs and later epochs are redone,
rewriting identical files); without one the run starts afresh. Kernels are deterministic,
so a resumed run ends bitwise equal to an uninterrupted one (except `seconds`). The state
file is deleted once every run is complete.
"""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from counting.checkpoint import save_checkpoint
from counting.engine.backend import metrics_dict
from counting.engine.layout import n_params, supports, unpack
from counting.engine.losses import loss_id
from counting.engine.many import JointSet, ModelBank, packed_train
from counting.engine.update import options_vector
from counting.fileformat import atomic_path, write_json_atomic
from counting.inits import initial_model
from counting.training import (
    EVAL_SETS,
    BestTracker,
    EpochStreams,
    TrainConfig,
    config_record,
    logged_loss,
)

_LOCAL = threading.local()


@dataclass
class RunSpec:
    """One run: its config (seed = init seed), directory, history meta, unique name."""

    config: TrainConfig
    out_dir: Path
    meta: dict
    name: str


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _json_config(config: TrainConfig) -> dict:
    """config_record(config) as it reads back from history.json (tuples become lists)."""
    return json.loads(json.dumps(config_record(config)))


class _Run:
    """The driver state of one run: its history and best loss; mirrors run_training."""

    def __init__(self, spec: RunSpec):
        self.spec = spec
        c = spec.config
        self.history = {
            "config": config_record(c),
            "backend": "fast",
            "meta": dict(spec.meta),
            "epochs": [],
            "best_epoch": None,
            "best_validation_loss": None,
            "diverged": False,
            "diverged_at_epoch": None,
        }
        self.ckpt_meta = {"config": config_record(c), **dict(spec.meta)}
        self.best = BestTracker(c, self.history)
        self.streams = None  # counting.training.EpochStreams, set up by train_runs

    @property
    def epochs_done(self) -> int:
        return len(self.history["epochs"])

    @property
    def finished(self) -> bool:
        return self.history["diverged"] or self.epochs_done >= self.spec.config.epochs

    def restore(self, records: list[dict]) -> None:
        """Adopt the first records of an earlier attempt; best epoch recomputed as the driver."""
        for r in records:
            self.history["epochs"].append(r)
            val = r.get("validation_loss")
            if not (_finite(r["train_loss_online"]) and _finite(val)):
                self.history["diverged"] = True
                self.history["diverged_at_epoch"] = r["epoch"]
                break
            self.best.update(r)

    def record(self, epoch: int, online: float, seconds: float, metrics: dict,
               params: np.ndarray, logged: float | None = None) -> list:
        """Epoch bookkeeping of run_training: record, divergence, checkpoint, best, history.

        Updates the history now and returns the file writes, in run_training's order, as
        callables for later (they hold their own snapshots). params: the run's parameter
        row after this epoch (a copy)."""
        out_dir = self.spec.out_dir
        config = self.spec.config
        record = {"epoch": epoch, "train_loss_online": online, "seconds": seconds}
        if _finite(online):
            for name in EVAL_SETS:
                if name in metrics:
                    record[f"{name}_loss"] = metrics[name]["loss"]
                    record[f"{name}_accuracy"] = metrics[name]["accuracy"]
            if logged is not None:
                record["validation_loss_logged"] = logged
        self.history["epochs"].append(record)
        writes = []
        val = record.get("validation_loss")
        if not (_finite(online) and _finite(val)):
            self.history["diverged"] = True
            self.history["diverged_at_epoch"] = epoch
        else:
            meta = {**self.ckpt_meta, "epoch": epoch}
            if epoch in config.checkpoint_epochs:
                path = out_dir / "checkpoints" / f"epoch_{epoch:02d}.pt"
                writes.append(partial(_checkpoint, config, params, path, meta))
            if self.best.update(record):
                writes.append(partial(_checkpoint, config, params, out_dir / "best.pt", meta))
        snapshot = {**self.history, "epochs": list(self.history["epochs"])}
        writes.append(partial(write_json_atomic, out_dir / "history.json", snapshot))
        return writes


def _checkpoint(config: TrainConfig, params: np.ndarray, path: Path, meta: dict) -> None:
    """save_checkpoint of a model holding `params` (one model per cell, hidden size and
    thread, reused)."""
    cache = _LOCAL.__dict__.setdefault("models", {})
    key = (config.cell, config.hidden_size)
    cache[key] = unpack(params[: n_params(*key)], config.cell, out=cache.get(key),
                        hidden_size=config.hidden_size)
    save_checkpoint(cache[key], path, meta)


def _run_all(writes: list) -> None:
    for w in writes:
        w()


def _load_history(spec: RunSpec) -> dict | None:
    path = spec.out_dir / "history.json"
    if not path.is_file():
        return None
    try:
        hist = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: unreadable history ({e}); remove the run directory") from None
    if hist.get("config") != _json_config(spec.config) or hist.get("meta") != spec.meta:
        raise ValueError(
            f"{path}: this run was started with a different configuration; "
            "use a new output directory or the original options"
        )
    return hist


def _save_state(path: Path, names, P, M, V, steps, epochs_done) -> None:
    """Resume state of all runs (arrays as in ModelBank, one row per run)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, names=np.array(names), P=P, M=M, V=V, steps=steps,
                 epochs_done=np.array(epochs_done, dtype=np.int64))


def _load_state(path: Path | None) -> dict:
    """{run name: (P row, M row, V row, step, epochs done)} from a state file, {} if none."""
    if path is None or not Path(path).is_file():
        return {}
    with np.load(path) as z:
        return {str(name): (z["P"][j].copy(), z["M"][j].copy(), z["V"][j].copy(),
                            float(z["steps"][j]), int(z["epochs_done"][j]))
                for j, name in enumerate(z["names"])}


def _resume(run: _Run, bank: ModelBank, i: int, states: dict) -> None:
    """Bring run i to where its files say it is (see the module docstring)."""
    hist = _load_history(run.spec)
    if hist is None:
        return
    records = hist.get("epochs", [])
    done = len(records)
    if hist.get("diverged") or done >= run.spec.config.epochs:
        run.restore(records)
        return
    state = states.get(run.spec.name)
    if state is None or not (0 < state[4] <= done):
        return  # start afresh; every file it writes will be rewritten identically
    run.restore(records[: state[4]])
    bank.P[i], bank.M[i], bank.V[i], bank.steps[i] = state[:4]


def train_runs(specs: list[RunSpec], sets: dict[str, list[str]], progress: bool = True,
               state_path: str | Path | None = None):
    """Train (or finish) every run of `specs`; -> their histories, in order.

    state_path: the resume-state file (None: no resume of unfinished runs).
    `sets` needs non-empty "train" and "validation"; "long" is evaluated when present.
    All runs need float64, a hidden size the engine supports (1-8), the same loss and the same
    number of training words (one shared training set).
    """
    for name in ("train", "validation"):
        if not sets.get(name):
            raise ValueError(f"training needs a non-empty {name!r} set")
    if not specs:
        return []
    losses = {s.config.loss for s in specs}
    if len(losses) > 1:
        raise ValueError(f"all runs of one batch need the same loss, got {sorted(losses)}")
    for s in specs:
        reason = supports(s.config.cell, s.config.hidden_size, s.config.dtype)
        if reason is not None:
            raise ValueError(f"{s.out_dir}: {reason}")
    models = [initial_model(s.config) for s in specs]
    bank = ModelBank(models, [s.config.lr for s in specs], loss_id(losses.pop()),
                     [options_vector(s.config) for s in specs])
    if len({s.name for s in specs}) != len(specs):
        raise ValueError("run names must be unique")
    runs = [_Run(s) for s in specs]
    states = _load_state(state_path)
    for i, run in enumerate(runs):
        _resume(run, bank, i, states)
    train = packed_train(sets["train"])
    n = len(sets["train"])
    joint = JointSet({k: sets[k] for k in EVAL_SETS if sets.get(k)})
    total = sum(s.config.epochs for s in specs)
    bar = tqdm(total=total, desc="runs x epochs", unit="epoch", disable=not progress)
    try:  # closed on every way out: an interruption's message is the last line
        bar.update(sum(s.config.epochs if r.finished else r.epochs_done for s, r in zip(specs, runs,
                                                                                        strict=True)))
        # Each run's shuffle streams (counting.training.EpochStreams), advanced past the epochs
        # already done; `logged`: the index of the word whose loss is logged this epoch.
        n_val = len(sets["validation"])
        logged = [None] * len(runs)
        for r in runs:
            r.streams = EpochStreams(r.spec.config, n, n_val)
            for _ in range(r.epochs_done if not r.finished else 0):
                r.streams.next()
        # The files of epoch e are written by a second thread while the kernels (which release
        # the GIL) run epoch e + 1; writes stay in order, each epoch's after the previous one's.
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            while True:
                active = [i for i, r in enumerate(runs) if not r.finished]
                if not active:
                    break
                drawn = [runs[i].streams.next() for i in active]
                orders = np.stack([d[0] for d in drawn]).astype(np.int64)
                for j, i in enumerate(active):
                    logged[i] = drawn[j][1]
                t0 = time.perf_counter()
                online, per_set = bank.epoch(active, train, orders, joint)
                seconds = (time.perf_counter() - t0) / len(active)
                if pending is not None:
                    pending.result()
                writes = []
                for j, i in enumerate(active):
                    run = runs[i]
                    epoch = run.epochs_done + 1
                    metrics, word = {}, None
                    if _finite(online[j]):
                        metrics = {k: metrics_dict(per_set[k][0][j], per_set[k][1][j],
                                                   joint.parts[k].lengths, fpfs=False)
                                   for k in joint.names}
                        if logged[i] is not None:
                            word = logged_loss(per_set["validation"][0][j][logged[i]], n_val)
                    writes += run.record(epoch, float(online[j]), seconds, metrics,
                                         bank.P[i].copy(), word)
                    bar.update(run.spec.config.epochs - epoch + 1 if run.finished else 1)
                if state_path is not None:
                    writes.append(partial(
                        _save_state, Path(state_path), [r.spec.name for r in runs], bank.P.copy(),
                        bank.M.copy(), bank.V.copy(), bank.steps.copy(),
                        [r.epochs_done for r in runs]))
                pending = writer.submit(_run_all, writes)
            if pending is not None:
                pending.result()
    finally:
        bar.close()
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)
    return [r.history for r in runs]
