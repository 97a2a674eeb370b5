"""The worst case of the kept models (issue 10): `probes.verify` at N = 1000 on each kept
run's best-by-validation model and on each stage model -> results/worst_case.csv
(columns `layout.WORST_CASE_COLUMNS`, one row per model):

    cell, run, epoch, kind ("best" | "stage"), very_long_fpf (its mean FPF on the very-long
    set, from best_models.csv / stage_models.csv), certified_length, shortest_failure_length
    (empty when no word up to max_length is wrong), shortest_failure (the word in run-length
    form, `probes.worstcase.witness.run_length`; empty likewise), position (its first wrong
    token, 0-based), class (probes.failures.classify), method ("exact" | "bound"), exact,
    max_length.

`summary(rows)` is what Table 1, fig4 and report.md read from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from paper_figs.paper_values import CELLS

MAX_LENGTH = 1000


def verify_rows(
    kept, entries, best_rows, stage_rows, progress=False, max_length: int = MAX_LENGTH
) -> list[dict]:
    """kept: {cell: [run rows]} (reproduce.select_runs); entries: reproduce's stage models
    [(run row, epoch, model, record)]; best_rows / stage_rows: the rows of best_models.csv /
    stage_models.csv (for the very-long FPF). -> rows of results/worst_case.csv, best models
    first, each kind in cell, run, epoch order."""
    from counting.checkpoint import load_checkpoint
    from probes.worstcase import verify

    best_fpf = {(r["cell"], r["run"]): r["fpf"] for r in best_rows if r["set"] == "very_long"}
    stage_fpf = {(r["cell"], r["run"], r["epoch"]): r["very_long_fpf"] for r in stage_rows}
    todo = [
        (
            "best",
            r,
            r["best_epoch"],
            Path(r["dir"]) / "best.pt",
            best_fpf.get((r["cell"], r["run"])),
        )
        for cell in CELLS
        for r in kept[cell]
    ]
    todo += [
        ("stage", r, ep, model, stage_fpf.get((r["cell"], r["run"], ep)))
        for r, ep, model, _ in entries
    ]
    rows = []
    for kind, r, epoch, model, fpf in tqdm(
        todo, desc="worst case", unit="model", disable=not progress
    ):
        if isinstance(model, Path):
            model = load_checkpoint(model)[0]
        res = verify(model, max_length)
        fail = res["shortest_failure"] or {}
        rows.append(
            {
                "cell": r["cell"],
                "run": r["run"],
                "epoch": epoch,
                "kind": kind,
                "very_long_fpf": fpf,
                "certified_length": res["certified_length"],
                "shortest_failure_length": fail.get("length"),
                "shortest_failure": fail.get("run_length"),
                "position": fail.get("position"),
                "class": fail.get("class"),
                "method": res["method"],
                "exact": res["exact"],
                "max_length": res["max_length"],
            }
        )
    return rows


def failure_length(row: dict) -> float:
    """The shortest failing length of a worst_case.csv row, a model with no failure up to
    max_length counted as max_length (so averages over such models are lower bounds)."""
    n = row["shortest_failure_length"]
    return float(row["max_length"] if n is None or n == "" else n)


def no_failure(row: dict) -> bool:
    return row["shortest_failure_length"] in (None, "")


def summary(rows: list[dict], kind: str) -> dict[str, dict]:
    """{cell: {"n", "mean", "min", "max" (failure_length over the cell's rows of `kind`),
    "none_failed" (models with no failure up to max_length), "max_length", "fpf_mean",
    "bound" (rows of method "bound")}} for the cells that have rows."""
    out = {}
    for cell in CELLS:
        sel = [r for r in rows if r["cell"] == cell and r["kind"] == kind]
        if not sel:
            continue
        lengths = np.array([failure_length(r) for r in sel])
        fpf = [float(r["very_long_fpf"]) for r in sel if r["very_long_fpf"] not in (None, "")]
        out[cell] = {
            "n": len(sel),
            "mean": float(lengths.mean()),
            "min": float(lengths.min()),
            "max": float(lengths.max()),
            "none_failed": sum(no_failure(r) for r in sel),
            "max_length": int(max(r["max_length"] for r in sel)),
            "fpf_mean": float(np.mean(fpf)) if fpf else float("nan"),
            "bound": sum(r["method"] == "bound" for r in sel),
        }
    return out
