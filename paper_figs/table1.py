"""Table 1: accuracy (%) on train / validation / long and mean very-long FPF of the best model
of each kept run: average (min / max) over the runs of each cell; and a row the paper does
not have, set "shortest_failure": the length of the shortest Dyck word each best model gets
wrong over every Dyck word up to N = 1000 tokens (`probes.verify`), a model with none wrong
up to N counted as N (the average is then a lower bound; table1.md says so).

Reads results/best_models.csv and results/worst_case.csv (the row is left out where a
results directory has none); writes DIR/table1.csv (cell,set,mean,min,max) and table1.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from counting.fileformat import write_text_atomic
from paper_figs.layout import read_csv, results_dir, run_module, write_csv
from paper_figs.paper_values import CELLS
from paper_figs.worst_case import summary as worst_case_summary

SETS = ("train", "validation", "long", "very_long_fpf")
WORST = "shortest_failure"  # the worst-case row (not in the paper)


def compute(rows: list[dict], worst_rows: list[dict] | None = None) -> list[dict]:
    """best_models rows (and worst_case.csv rows) -> [{cell, set, mean, min, max,
    none_failed}]; the worst-case rows also carry "no_failure" (models with no failing
    word up to "max_length", counted as max_length) and "bound" (method "bound" models,
    whose length is that of the failing word found: an upper bound)."""
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
        wc = worst_case_summary(worst_rows or [], "best").get(cell)
        if wc is not None:
            out.append({"cell": cell, "set": WORST, "mean": wc["mean"], "min": wc["min"],
                        "max": wc["max"], "none_failed": wc["none_failed"] > 0,
                        "no_failure": wc["none_failed"], "max_length": wc["max_length"],
                        "bound": wc["bound"]})
    return out


def markdown(table: list[dict], n_very_long: int = 100) -> str:
    head = ("| Model | Training | Validation | Long | Very Long (FPF) | Shortest failing Dyck "
            "word (worst case) |\n|---|---|---|---|---|---|\n")
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
        parts.append(_worst_cell(cells.get(WORST)))
        lines.append(
            f"| {cell.upper() if cell != 'relu' else 'ReLU'} | " + " | ".join(parts) + " |"
        )
    note = (
        "\nAccuracy: % of sequences with every token right. Very Long: mean First Point of "
        f"Failure over the {n_very_long} sequences; a maximum of `none` means the best model did "
        "not fail.\n"
    )
    wc = [r for r in table if r["set"] == WORST]
    if wc:
        n = max(r["max_length"] for r in wc)
        note += (
            "\nShortest failing Dyck word (not in the paper): the length in tokens of the "
            f"shortest Dyck word the best model gets wrong, over every Dyck word of up to {n} "
            "tokens (`probes.verify`); avg (min / max) over the best models. A model with no "
            f"failing word up to {n} is counted as {n}: the average is then a lower bound "
            f"(shown `>=`) and a maximum `none <= {n}` means some model has none.\n"
        )
        if any(r["bound"] for r in wc):
            note += ("Models of hidden size > 1 (method `bound`) count the failing word "
                     "found, an upper bound of their shortest.\n")
    return head + "\n".join(lines) + "\n" + note


def _worst_cell(r: dict | None) -> str:
    if r is None:
        return "-"
    if not r["no_failure"]:
        return f"{r['mean']:.1f} ({r['min']:.0f} / {r['max']:.0f})"
    lo = "none" if r["min"] >= r["max_length"] else f"{r['min']:.0f}"
    return (f">= {r['mean']:.1f} ({lo} / none <= {r['max_length']}; "
            f"{r['no_failure']} with no failure)")


def make(root) -> list[Path]:
    root = Path(root)
    rows = read_csv(results_dir(root) / "best_models.csv")
    worst = results_dir(root) / "worst_case.csv"
    table = compute(rows, read_csv(worst) if worst.is_file() else None)
    n = next((int(r["n"]) for r in rows if r["set"] == "very_long"), 100)
    write_csv(root / "table1.csv", ("cell", "set", "mean", "min", "max"), table)
    write_text_atomic(root / "table1.md", markdown(table, n))
    return [root / "table1.csv", root / "table1.md"]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
