"""Failure modes on the zigzag set: how many first failures of each class per cell, over the
60 models x 10 zigzag sequences (sequences a model gets fully right count as "no failure").

Reads results/failures.csv and results/zigzag.csv; writes DIR/failure_modes.csv
(columns cell,class,count).
"""

from __future__ import annotations

import sys
from pathlib import Path

from paper_figs.layout import read_csv, results_dir, run_module, write_csv
from paper_figs.paper_values import CELLS

CLASSES = ("early", "at-zero", "depth-dependent", "other")


def compute(failures: list[dict], zigzag: list[dict]) -> list[dict]:
    out = []
    for cell in CELLS:
        evaluated = [r for r in zigzag if r["cell"] == cell]
        if not evaluated:
            continue
        fails = [r for r in failures if r["cell"] == cell]
        for c in CLASSES:
            out.append({"cell": cell, "class": c, "count": sum(r["class"] == c for r in fails)})
        out.append(
            {
                "cell": cell,
                "class": "no failure",
                "count": sum(r["fpf"] == r["length"] for r in evaluated),
            }
        )
    return out


def dominant(table: list[dict], cell: str) -> str | None:
    rows = [r for r in table if r["cell"] == cell and r["class"] in CLASSES and r["count"] > 0]
    return max(rows, key=lambda r: r["count"])["class"] if rows else None


def make(root) -> list[Path]:
    root = Path(root)
    res = results_dir(root)
    table = compute(read_csv(res / "failures.csv"), read_csv(res / "zigzag.csv"))
    write_csv(root / "failure_modes.csv", ("cell", "class", "count"), table)
    return [root / "failure_modes.csv"]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
