"""Figure 4: the paper's average-case measure against the worst case. One point per stage
model: its mean very-long FPF (x) against the length of the shortest Dyck word it gets wrong
(y, `probes.verify` at N = 1000), log-log, a colour per cell; models with no failing word up
to N are drawn as open triangles at y = N. The dashed line y = x marks a failing word as
long as the average first failure. Reads results/worst_case.csv; writes DIR/fig4.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from paper_figs.layout import read_csv, results_dir, run_module, savefig_atomic  # noqa: E402
from paper_figs.paper_values import CELLS  # noqa: E402
from paper_figs.worst_case import failure_length, no_failure  # noqa: E402

NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}
COLOURS = {"lstm": "C0", "relu": "C1", "gru": "C2"}
FLOOR = 1.0  # an FPF below 1 (a model wrong at its first token) is drawn at 1 on the log axis


def make(root) -> list[Path]:
    root = Path(root)
    rows = [r for r in read_csv(results_dir(root) / "worst_case.csv") if r["kind"] == "stage"]
    if not rows:
        raise FileNotFoundError(f"{root}: results/worst_case.csv has no stage models")
    n_max = max(int(r["max_length"]) for r in rows)
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for cell in CELLS:
        mine = [r for r in rows if r["cell"] == cell and r["very_long_fpf"] is not None]
        if not mine:
            continue
        x = np.maximum([float(r["very_long_fpf"]) for r in mine], FLOOR)
        y = np.array([failure_length(r) for r in mine])
        none = np.array([no_failure(r) for r in mine])
        ax.scatter(
            x[~none],
            y[~none],
            s=22,
            alpha=0.75,
            color=COLOURS[cell],
            label=f"{NAMES[cell]} ({(~none).sum()} models)",
        )
        if none.any():
            ax.scatter(
                x[none],
                y[none],
                s=60,
                marker="^",
                facecolors="none",
                edgecolors=COLOURS[cell],
                linewidths=1.3,
                label=f"{NAMES[cell]}: no failure up to {n_max} ({none.sum()})",
            )
    fpfs = [
        max(float(r["very_long_fpf"]), FLOOR) for r in rows if r["very_long_fpf"] is not None
    ] or [FLOOR]
    lo, top = min(fpfs) / 1.5, max([n_max] + fpfs)
    ax.plot(
        [lo, top],
        [lo, top],
        ls="--",
        color="0.5",
        lw=1,
        label="failing word as long as the mean FPF",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, top * 1.3)
    ax.set_ylim(1.5, n_max * 1.5)
    ax.set_xlabel("mean first point of failure on random 1000-token words (very-long set)")
    ax.set_ylabel(f"length of the shortest Dyck word it gets wrong (all words <= {n_max})")
    ax.set_title(f"Average case vs worst case: {len(rows)} stage models")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = savefig_atomic(fig, root / "fig4.png")
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
