"""Table 2: linear regression of the very-long FPF on -log(loss) on train / validation / long,
over the 60 models per cell (6 checkpoints x 10 kept runs): R^2 and p of
`scipy.stats.linregress(x=-log(loss), y=FPF)`.

Reads results/stage_models.csv; writes DIR/table2.csv (cell,loss_set,r2,p) and table2.md.
Under the authors' stage epochs (results/selection.json "protocol", stage_epochs "authors")
the training loss is the epoch's online loss (train_loss_online), as the authors regressed
on; otherwise the checkpointed model's true mean loss on the training set.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.stats import linregress

from counting.fileformat import write_text_atomic
from paper_figs.layout import read_csv, results_dir, run_module, write_csv
from paper_figs.paper_values import CELLS

LOSS_SETS = ("train", "validation", "long")


def regress(rows: list[dict], cell: str, loss_set: str, column: str | None = None):
    """-> (x = -log loss, y = FPF, linregress result or None when fewer than 3 finite points
    or x is constant). column: the stage_models.csv column of the loss (default
    "<loss_set>_loss")."""
    sel = [r for r in rows if r["cell"] == cell]
    col = column or f"{loss_set}_loss"
    x = np.array(
        [-math.log(r[col]) if r[col] is not None and r[col] > 0 else np.nan for r in sel],
        dtype=float,
    )
    y = np.array([r["very_long_fpf"] for r in sel], dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0:
        return x, y, None
    return x, y, linregress(x, y)


def compute(rows: list[dict], online_train: bool = False) -> list[dict]:
    """online_train: regress on the online training loss (the authors' Table 2)."""
    out = []
    for cell in CELLS:
        if not any(r["cell"] == cell for r in rows):
            continue
        for s in LOSS_SETS:
            column = "train_loss_online" if online_train and s == "train" else None
            _, _, fit = regress(rows, cell, s, column)
            r2 = float(fit.rvalue**2) if fit is not None else float("nan")
            p = float(fit.pvalue) if fit is not None else float("nan")
            out.append({"cell": cell, "loss_set": s, "r2": r2, "p": p})
    return out


def online_train_loss(root) -> bool:
    """Whether the reproduction at `root` ran under the authors' stage epochs (its Table 2
    then regresses on the online training loss)."""
    path = results_dir(root) / "selection.json"
    if not path.is_file():
        return False
    sel = json.loads(path.read_text())
    return (sel.get("protocol") or {}).get("stage_epochs") == "authors"


def markdown(table: list[dict], online_train: bool = False) -> str:
    lines = ["| Model | Training R² / p | Validation R² / p | Long R² / p |", "|---|---|---|---|"]
    for cell in CELLS:
        sel = {r["loss_set"]: r for r in table if r["cell"] == cell}
        if sel:
            parts = [f"{sel[s]['r2']:.3f} / {sel[s]['p']:.3g}" for s in LOSS_SETS]
            lines.append(
                f"| {'ReLU' if cell == 'relu' else cell.upper()} | " + " | ".join(parts) + " |"
            )
    note = (" Training loss: the epoch's online loss (the authors' protocol)."
            if online_train else "")
    return ("\n".join(lines) + "\n\nRegression of very-long FPF on -log(loss), 60 models per "
            f"cell.{note}\n")


def make(root) -> list[Path]:
    root = Path(root)
    online = online_train_loss(root)
    table = compute(read_csv(results_dir(root) / "stage_models.csv"), online)
    write_csv(root / "table2.csv", ("cell", "loss_set", "r2", "p"), table)
    write_text_atomic(root / "table2.md", markdown(table, online))
    return [root / "table2.csv", root / "table2.md"]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
