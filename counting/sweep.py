"""Paper-protocol sweeps: many runs per cell, each with its own init seed; resumable.

    run_sweep(data, out_dir, cells=CELLS, runs=(10, 30, 10), epochs=30,
              seed=0, jobs=None, progress=True, executor=None, **train_options) -> summary rows

Layout of OUT_DIR:
    sweep.json                 the sweep's options and a fingerprint of its data
    summary.csv, summary.json  one row per run (ROW_KEYS, the training options last),
                               written when the sweep ends
    <cell>/run_<NN>/           history.json, best.pt, checkpoints/epoch_XX.pt - the files
                               `counting train` writes, same format
    .state.npz                 engine state of the runs in progress (removed at the end)

Seeds. Run r (0-based) of cell c in a sweep with seed S gets the init seed
    run_seed(S, c, r) = numpy SeedSequence([S, CELL_INDEX[c], r]).generate_state(1)[0]
(a uint32; CELL_INDEX = lstm 0, relu 1, gru 2). It depends on nothing else, so a larger
sweep (in a new directory) repeats every run of a smaller one with the same seed. As in
`counting train`, the shuffle stream comes from the init seed, so `counting train --cell c
--seed <seed>` (same data and options) reproduces a run's weights and metrics bit for bit.
The seed is in the summary and in each run's history meta (with sweep_seed, cell, run).

Engine. Runs the fast engine handles (float64, hidden sizes 1-8) train together, all of them
in each epoch's parallel kernel calls (`counting.engine.runs`); their history `seconds` is
the epoch's wall time / runs in it, evaluation included. Other runs train one after
another with the reference backend through `counting.training.run_training`.

Resume. Every file is written atomically, so nothing half-written is ever read back. Run
the same command again after an interruption: finished runs are skipped, fast runs resume
from their last completed epoch (engine state in .state.npz), reference runs restart; the
results equal an uninterrupted sweep's (the wall-time field `seconds` aside). Starting a
sweep in an existing OUT_DIR with other options or data is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from counting.datasets import load_datasets
from counting.executors import LocalExecutor, RunBatch
from counting.fileformat import write_json_atomic, write_text_atomic
from counting.models import CELLS
from counting.training import (
    CHECKPOINT_EPOCHS,
    EVAL_SETS,
    OPTION_FIELDS,
    PROTOCOL_FIELDS,
    ReferenceBackend,
    TrainConfig,
    config_record,
    run_training,
)

FORMAT = "counting-rnns-sweep/1"
CELL_INDEX = {"lstm": 0, "relu": 1, "gru": 2}
ROW_KEYS = ("run", "cell", "seed", "best_epoch", "best_validation_loss", "diverged",
            "diverged_at_epoch", "epochs_done", "dir") + OPTION_FIELDS
TRAIN_OPTIONS = ("lr", "loss", "dtype", "hidden_size") + OPTION_FIELDS + (
    "checkpoint_epochs",) + PROTOCOL_FIELDS
# Columns after ROW_KEYS when a sweep runs under another protocol than the paper's (issue 22):
# the protocol's switches and, under selection "authors", the true mean validation loss of the
# best epoch (best_validation_loss is then the authors' logged loss that selected it).
PROTOCOL_KEYS = PROTOCOL_FIELDS + ("checkpoint_epochs", "best_validation_loss_mean")


def run_seed(sweep_seed: int, cell: str, run: int) -> int:
    """The init seed of run `run` (0-based) of `cell` in a sweep seeded `sweep_seed`."""
    if cell not in CELL_INDEX:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if sweep_seed < 0 or run < 0:
        raise ValueError(f"sweep seed and run index must be >= 0, got {sweep_seed}, {run}")
    ss = np.random.SeedSequence([int(sweep_seed), CELL_INDEX[cell], int(run)])
    return int(ss.generate_state(1, np.uint32)[0])


def run_dir(out_dir: Path, cell: str, run: int) -> Path:
    return Path(out_dir) / cell / f"run_{run:02d}"


def _fingerprint(sets: dict[str, list[str]]) -> dict:
    return {k: {"n": len(v), "sha256": hashlib.sha256("\n".join(v).encode()).hexdigest()}
            for k, v in sets.items()}


def _check_manifest(out_dir: Path, manifest: dict) -> None:
    path = out_dir / "sweep.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != manifest:
            keys = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            raise ValueError(
                f"{out_dir} holds a sweep with other settings ({', '.join(keys)} differ); "
                "resume with the original options or use a new --out"
            )
    else:
        write_json_atomic(path, manifest)


def _load_sets(data) -> dict[str, list[str]]:
    if isinstance(data, dict):
        sets = {k: list(v) for k, v in data.items() if k in EVAL_SETS and v}
    else:
        sets = load_datasets(data, EVAL_SETS, required=("train", "validation"))
    for name in ("train", "validation"):
        if not sets.get(name):
            raise ValueError(f"a sweep needs a non-empty {name!r} set")
    return sets


def _row(cell: str, run: int, config: TrainConfig, history: dict, directory: Path) -> dict:
    seed = config.seed
    return {
        "run": run, "cell": cell, "seed": seed,
        "best_epoch": history["best_epoch"],
        "best_validation_loss": history["best_validation_loss"],
        "diverged": history["diverged"],
        "diverged_at_epoch": history["diverged_at_epoch"],
        "epochs_done": len(history["epochs"]),
        "dir": str(directory),
        **{k: getattr(config, k) for k in OPTION_FIELDS},
        **_protocol_columns(config, history),
    }


def _protocol_columns(config: TrainConfig, history: dict) -> dict:
    """PROTOCOL_KEYS of a run under another protocol than the paper's, else {} (the rows and
    files of a paper-protocol sweep stay what they always were)."""
    if (config_record(config).keys() == config_record(TrainConfig()).keys()
            and config.checkpoint_epochs == CHECKPOINT_EPOCHS):
        return {}
    return {
        **{k: getattr(config, k) for k in PROTOCOL_FIELDS},
        "checkpoint_epochs": ",".join(str(e) for e in config.checkpoint_epochs),
        "best_validation_loss_mean": history.get("best_validation_loss_mean",
                                                 history["best_validation_loss"]),
    }


def _write_summary(out_dir: Path, rows: list[dict]) -> None:
    write_json_atomic(out_dir / "summary.json", rows)
    keys = ROW_KEYS + (PROTOCOL_KEYS if any("selection" in r for r in rows) else ())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    write_text_atomic(out_dir / "summary.csv", buf.getvalue())


def run_sweep(data, out_dir, cells=CELLS, runs=(10, 30, 10), epochs=30,
              seed=0, jobs=None, progress=True, executor=None, **train_options) -> list[dict]:
    """Train `runs[i]` runs of `cells[i]` for `epochs` epochs each; -> summary rows.

    data: a directory written by `counting data`, or {set name: words} with "train" and
    "validation" ("long" is evaluated every epoch when present). runs: one count per cell,
    or one int for all. jobs: threads for the fast engine (None: all cores).
    executor: where the engine's runs train (`counting.executors`; None: LocalExecutor(jobs),
    this process).
    train_options: TrainConfig fields lr, loss, dtype, hidden_size and the training options
    init, init_noise, forget_bias, clip, batch_size, weight_decay, l1 (the same for every
    run; an option that does not apply to one of the cells raises ValueError before any
    work). Resumable (see module docstring). Rows (ROW_KEYS) are ordered by cell as given,
    then run; they end with the run's training options.

    The same in two steps, for a command that trains many sweeps as one grid (`counting
    robustness`): `plan = plan_sweep(...)` (same arguments but executor) checks everything
    and gives `plan.batch`, the engine's runs; hand the batches of all sweeps to one
    `executor.execute`, then `finish_sweep(plan, histories)` for each.
    """
    plan = plan_sweep(data, out_dir, cells, runs, epochs, seed, jobs, **train_options)
    executor = executor or LocalExecutor(jobs)
    done = executor.execute([plan.batch], progress)[0]
    return finish_sweep(plan, done, progress)


@dataclass
class SweepPlan:
    """A sweep checked and set up, not yet trained (`plan_sweep`)."""

    out_dir: Path
    seed: int
    sets: dict[str, list[str]]
    configs: dict  # (cell, run) -> TrainConfig, in row order
    fast: list  # (cell, run) keys the engine trains: the runs of `batch`, in order
    slow: list  # (cell, run) keys trained by the reference backend (`finish_sweep`)
    batch: RunBatch


def plan_sweep(data, out_dir, cells=CELLS, runs=(10, 30, 10), epochs=30,
               seed=0, jobs=None, **train_options) -> SweepPlan:
    """Check the arguments (those of `run_sweep`), record the sweep's manifest (or check it
    against the one in `out_dir`) -> the plan, with the engine's runs as one RunBatch."""
    from counting.engine import supports
    from counting.engine.runs import RunSpec

    cells = tuple(cells)
    runs = (runs,) * len(cells) if isinstance(runs, int) else tuple(runs)
    bad = [c for c in cells if c not in CELLS]
    if bad or len(set(cells)) != len(cells) or not cells:
        raise ValueError(f"cells must be distinct names among {CELLS}, got {list(cells)}")
    if len(runs) != len(cells) or any(not isinstance(r, int) or r < 0 for r in runs):
        raise ValueError(f"runs needs one count >= 0 per cell {list(cells)}, got {list(runs)}")
    unknown = sorted(set(train_options) - set(TRAIN_OPTIONS))
    if unknown:
        raise ValueError(f"unknown train option(s) {unknown}; expected among {TRAIN_OPTIONS}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    sets = _load_sets(data)
    out_dir = Path(out_dir)
    configs = {}  # (cell, run) -> TrainConfig; validates the options
    for cell, n in zip(cells, runs, strict=True):
        for r in range(n):
            configs[cell, r] = TrainConfig(cell=cell, epochs=epochs, seed=run_seed(seed, cell, r),
                                           **train_options)
    # the resolved options per cell (so that defaults given or omitted compare equal)
    options = {c: {k: v for k, v in config_record(TrainConfig(cell=c, epochs=epochs,
                                                              **train_options)).items()
                   if k != "seed"} for c in cells}
    manifest = {
        "format": FORMAT, "cells": list(cells), "runs": list(runs), "epochs": epochs,
        "seed": seed, "train_options": json.loads(json.dumps(options)),
        "data": _fingerprint(sets),
    }
    _check_manifest(out_dir, manifest)

    fast, slow = [], []
    for (cell, r), c in configs.items():
        (fast if supports(c.cell, c.hidden_size, c.dtype) is None else slow).append((cell, r))
    specs = [RunSpec(configs[k], run_dir(out_dir, *k), _meta(seed, configs, *k),
                     f"{k[0]}/run_{k[1]:02d}") for k in fast]
    return SweepPlan(out_dir, seed, sets, configs, fast, slow,
                     RunBatch(specs, sets, out_dir / ".state.npz"))


def _meta(seed: int, configs: dict, cell: str, r: int) -> dict:
    return {"sweep_seed": seed, "cell": cell, "run": r, "init_seed": configs[cell, r].seed}


def finish_sweep(plan: SweepPlan, histories: list[dict], progress: bool = True) -> list[dict]:
    """After the plan's batch has trained (`histories`: the executor's, in batch order):
    train the reference runs, write the summary -> summary rows (see `run_sweep`)."""
    out_dir, configs = plan.out_dir, plan.configs
    done = dict(zip(plan.fast, histories, strict=True))
    for k in tqdm(plan.slow, desc="reference runs", unit="run",
                  disable=not progress or not plan.slow):
        done[k] = _reference_run(configs[k], plan.sets, run_dir(out_dir, *k),
                                 _meta(plan.seed, configs, *k))
    rows = [_row(cell, r, configs[cell, r], done[cell, r], run_dir(out_dir, cell, r))
            for cell, r in configs]
    _write_summary(out_dir, rows)
    return rows


def _reference_run(config: TrainConfig, sets, directory: Path, meta: dict) -> dict:
    """A run the fast engine does not handle: reuse a finished history, else train it."""
    path = directory / "history.json"
    if path.is_file():
        hist = json.loads(path.read_text())
        done = hist.get("diverged") or len(hist.get("epochs", [])) >= config.epochs
        if done and hist.get("meta") == meta:
            return hist
    return run_training(config, sets, directory, backend_factory=ReferenceBackend,
                        progress=False, meta=meta)
