"""Figure 1: -log(validation loss) vs mean very-long FPF for the 60 models of each cell, with the
regression line (3 panels). Reads results/stage_models.csv; writes DIR/fig1.png."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from paper_figs.layout import read_csv, results_dir, run_module, savefig_atomic  # noqa: E402
from paper_figs.paper_values import CELLS  # noqa: E402
from paper_figs.table2 import regress  # noqa: E402

NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}


def make(root) -> list[Path]:
    root = Path(root)
    rows = read_csv(results_dir(root) / "stage_models.csv")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, cell, tag in zip(axes, CELLS, "abc"):
        x, y, fit = regress(rows, cell, "validation")
        ax.scatter(x, y, s=14, alpha=0.7)
        if fit is not None:
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(
                xs,
                fit.intercept + fit.slope * xs,
                color="C3",
                label=f"R²={fit.rvalue**2:.3f}, p={fit.pvalue:.2g}",
            )
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"({tag}) {NAMES[cell]}  (n={x.size})")
        ax.set_xlabel("-log(validation loss)")
        ax.set_ylabel("mean FPF, very-long set")
        ax.grid(alpha=0.3)
    fig.suptitle("Validation loss vs very-long First Point of Failure")
    fig.tight_layout()
    path = savefig_atomic(fig, root / "fig1.png")
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
