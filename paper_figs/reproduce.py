"""`counting reproduce`: the whole study in one command.

1. generate the datasets (DIR/data, kept if already there for the same profile and seed);
2. run the sweep (10 LSTM, 30 ReLU, 10 GRU; 30 epochs) - resumable, see counting.sweep;
3. keep, per cell, the runs with the lowest best validation loss (all LSTM and GRU runs,
   the best 10 of 30 ReLU runs);
4. evaluate each kept run's best-by-validation model on train / validation / long (sequence
   accuracy) and very long (FPF)                              -> results/best_models.csv;
5. evaluate the checkpoints after epochs 1, 5, 10, 15, 20, 25 of the kept runs (60 models per
   cell): losses on train / validation / long and very-long FPF -> results/stage_models.csv;
6. run those models on the zigzag set and classify each first failure with the probes
                                                    -> results/zigzag.csv, results/failures.csv;
7. write the tables, figures and report.md (paper_figs.table1 ... paper_figs.report).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from counting.checkpoint import load_checkpoint
from counting.datasets import PROFILES, SET_NAMES, load_datasets, make_datasets, write_datasets
from counting.fileformat import write_json_atomic
from paper_figs import failure_modes, fig1, fig2, fig3, report, table1, table2
from paper_figs.layout import (
    BEST_COLUMNS,
    FAILURE_COLUMNS,
    STAGE_COLUMNS,
    ZIGZAG_COLUMNS,
    results_dir,
    write_csv,
)
from paper_figs.paper_values import CELLS


@dataclass(frozen=True)
class Plan:
    runs: tuple[int, int, int]  # LSTM, ReLU, GRU
    keep: int  # runs kept per cell (the best by validation loss)
    epochs: int
    stage_epochs: tuple[int, ...]  # checkpoints evaluated for Table 2 / Fig 1 / Fig 3


PLANS = {
    "paper": Plan(runs=(10, 30, 10), keep=10, epochs=30, stage_epochs=(1, 5, 10, 15, 20, 25)),
    "smoke": Plan(runs=(2, 3, 2), keep=2, epochs=5, stage_epochs=(1, 5)),
}


def _zigzag_j(word: str) -> int:
    return word.index(")")


def _data(out: Path, profile: str, seed: int, progress: bool) -> dict[str, list[str]]:
    data_dir = out / "data"
    stamp = data_dir / "dataset.json"
    want = {"profile": profile, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return load_datasets(data_dir, SET_NAMES, required=SET_NAMES)
    sets = make_datasets(profile, seed, progress=progress)
    write_datasets(data_dir, sets)
    write_json_atomic(stamp, want)
    return sets


def select_runs(rows: list[dict], keep: int) -> dict[str, list[dict]]:
    """Per cell, the `keep` runs with the lowest best validation loss (runs with no finite
    best validation loss are never kept)."""
    kept = {}
    for cell in CELLS:
        ok = [
            r
            for r in rows
            if r["cell"] == cell
            and r["best_validation_loss"] is not None
            and math.isfinite(float(r["best_validation_loss"]))
        ]
        ok.sort(key=lambda r: (float(r["best_validation_loss"]), r["run"]))
        kept[cell] = ok[:keep]
    return kept


def _evaluate(models, seqs):
    from counting.engine import evaluate_many

    return evaluate_many(models, seqs)


def reproduce(out="reproduction", profile="paper", seed=0, jobs=None, progress=True) -> list[Path]:
    """Run the pipeline; returns the output files written. Resumable."""
    from counting.sweep import run_sweep
    from probes import classify_failures

    if profile not in PLANS:
        raise ValueError(f"profile must be one of {sorted(PLANS)}, got {profile!r}")
    plan, out = PLANS[profile], Path(out)
    res = results_dir(out)
    sets = _data(out, profile, seed, progress)

    rows = run_sweep(
        sets,
        out / "sweep",
        cells=CELLS,
        runs=plan.runs,
        epochs=plan.epochs,
        seed=seed,
        jobs=jobs,
        progress=progress,
    )
    kept = select_runs(rows, plan.keep)
    write_json_atomic(
        res / "selection.json",
        {
            "profile": profile,
            "seed": seed,
            "plan": asdict(plan),
            "runs_trained": {c: sum(r["cell"] == c for r in rows) for c in CELLS},
            "diverged": {
                c: sum(bool(r["diverged"]) for r in rows if r["cell"] == c) for c in CELLS
            },
            "cells": {
                c: [
                    {k: r[k] for k in ("run", "seed", "dir", "best_epoch", "best_validation_loss")}
                    for r in kept[c]
                ]
                for c in CELLS
            },
        },
    )

    # 4. best models
    best_rows, histories = [], {}
    for cell in tqdm(CELLS, desc="best models", disable=not progress):
        runs = kept[cell]
        models = [load_checkpoint(Path(r["dir"]) / "best.pt")[0] for r in runs]
        for name in ("train", "validation", "long", "very_long"):
            for r, m in zip(runs, _evaluate(models, sets[name]) if models else []):
                best_rows.append(
                    {
                        "cell": cell,
                        "run": r["run"],
                        "seed": r["seed"],
                        "epoch": r["best_epoch"],
                        "set": name,
                        **{k: m[k] for k in ("n", "accuracy", "fpf", "fully_right", "loss")},
                    }
                )
        histories[cell] = {}
        for r in runs:
            h = json.loads((Path(r["dir"]) / "history.json").read_text())
            histories[cell][str(r["run"])] = [
                e.get("validation_loss")
                for e in h["epochs"]
                if e.get("validation_loss") is not None
            ]
    write_csv(res / "best_models.csv", BEST_COLUMNS, best_rows)
    write_json_atomic(res / "histories.json", histories)

    # 5-6. the models at stages of training
    stage_rows, zig_rows, fail_rows = [], [], []
    zig_j = [_zigzag_j(w) for w in sets["zigzag"]]
    for cell in tqdm(CELLS, desc="stage models", disable=not progress):
        entries = []  # (run row, epoch, model, online train loss)
        for r in kept[cell]:
            h = json.loads((Path(r["dir"]) / "history.json").read_text())
            online = {e["epoch"]: e["train_loss_online"] for e in h["epochs"]}
            for ep in plan.stage_epochs:
                path = Path(r["dir"]) / "checkpoints" / f"epoch_{ep:02d}.pt"
                if path.is_file():  # a diverged run has no checkpoints after divergence
                    entries.append((r, ep, load_checkpoint(path)[0], online.get(ep)))
        if not entries:
            continue
        models = [e[2] for e in entries]
        ev = {
            name: _evaluate(models, sets[name])
            for name in ("train", "validation", "long", "very_long", "zigzag")
        }
        for i, (r, ep, model, online) in enumerate(entries):
            stage_rows.append(
                {
                    "cell": cell,
                    "run": r["run"],
                    "seed": r["seed"],
                    "epoch": ep,
                    "train_loss": ev["train"][i]["loss"],
                    "validation_loss": ev["validation"][i]["loss"],
                    "long_loss": ev["long"][i]["loss"],
                    "train_loss_online": online,
                    "very_long_fpf": ev["very_long"][i]["fpf"],
                    "very_long_fully_right": ev["very_long"][i]["fully_right"],
                }
            )
            for k, fpf in enumerate(ev["zigzag"][i]["fpfs"]):
                zig_rows.append(
                    {
                        "cell": cell,
                        "run": r["run"],
                        "epoch": ep,
                        "j": zig_j[k],
                        "length": len(sets["zigzag"][k]),
                        "fpf": fpf,
                    }
                )
            for f in classify_failures(model, sets["zigzag"], "zigzag"):
                fail_rows.append(
                    {
                        "cell": cell,
                        "run": r["run"],
                        "epoch": ep,
                        "sequence": f["sequence"],
                        "j": zig_j[f["sequence"]],
                        "position": f["position"],
                        "depth": f["depth"],
                        "peak": f["peak"],
                        "class": f["class"],
                    }
                )
    write_csv(res / "stage_models.csv", STAGE_COLUMNS, stage_rows)
    write_csv(res / "zigzag.csv", ZIGZAG_COLUMNS, zig_rows)
    write_csv(res / "failures.csv", FAILURE_COLUMNS, fail_rows)

    written = []
    for module in (table1, table2, fig1, fig2, fig3, failure_modes, report):
        written += module.make(out)
    return written


__all__ = ["PLANS", "PROFILES", "Plan", "reproduce", "select_runs"]
