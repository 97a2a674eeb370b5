"""Table 1: accuracy (%) on train / validation / long and mean very-long FPF of the best model
of each kept run: average (min / max) over the runs of each cell.

Reads results/best_models.csv; writes DIR/table1.csv (cell,set,mean,min,max) and table1.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from counting.fileformat import write_text_atomic
from paper_figs.layout import read_csv, results_dir, run_module, write_csv
from paper_figs.paper_values import CELLS

SETS = ("train", "validation", "long", "very_long_fpf")


def compute(rows: list[dict]) -> list[dict]:
    """best_models rows -> [{cell, set, mean, min, max, none_failed}]."""
    out = []
    for cell in CELLS:
        for s in SETS:
            if s == "very_long_fpf":
                sel = [r for r in rows if r["cell"] == cell and r["set"] == "very_long"]
                vals = [float(r["fpf"]) for r in sel]
                best_all_right = bool(sel) and any(r["fully_right"] == r["n"] for r in sel)
            else:
                sel = [r for r in rows if r["cell"] == cell and r["set"] == s]
                vals = [float(r["accuracy"]) for r in sel]
                best_all_right = False
            if not vals:
                continue
            out.append(
                {
                    "cell": cell,
                    "set": s,
                    "mean": float(np.mean(vals)),
                    "min": float(np.min(vals)),
                    "max": float(np.max(vals)),
                    "none_failed": best_all_right,
                }
            )
    return out


def markdown(table: list[dict], n_very_long: int = 100) -> str:
    head = "| Model | Training | Validation | Long | Very Long (FPF) |\n|---|---|---|---|---|\n"
    lines = []
    for cell in CELLS:
        cells = {r["set"]: r for r in table if r["cell"] == cell}
        if not cells:
            continue
        parts = []
        for s in SETS:
            r = cells.get(s)
            if r is None:
                parts.append("-")
                continue
            hi = "none" if r["none_failed"] else f"{r['max']:.1f}"
            parts.append(f"{r['mean']:.1f} ({r['min']:.1f} / {hi})")
        lines.append(
            f"| {cell.upper() if cell != 'relu' else 'ReLU'} | " + " | ".join(parts) + " |"
        )
    note = (
        "\nAccuracy: % of sequences with every token right. Very Long: mean First Point of "
        f"Failure over the {n_very_long} sequences; a maximum of `none` means the best model did "
        "not fail.\n"
    )
    return head + "\n".join(lines) + "\n" + note


def make(root) -> list[Path]:
    root = Path(root)
    rows = read_csv(results_dir(root) / "best_models.csv")
    table = compute(rows)
    n = next((int(r["n"]) for r in rows if r["set"] == "very_long"), 100)
    write_csv(root / "table1.csv", ("cell", "set", "mean", "min", "max"), table)
    write_text_atomic(root / "table1.md", markdown(table, n))
    return [root / "table1.csv", root / "table1.md"]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
