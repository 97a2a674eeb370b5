"""Figure 2: validation loss over epochs (average, min, max over the kept runs), LSTM and ReLU.
Reads results/histories.json; writes DIR/fig2.png."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from paper_figs.layout import read_json, results_dir, run_module, savefig_atomic  # noqa: E402


def curves(histories: dict, cell: str):
    """-> epochs (E,), mean, min, max (E,) over runs; runs that stopped early (diverged) are
    counted only over the epochs they have."""
    runs = [np.asarray(v, dtype=float) for v in histories.get(cell, {}).values() if len(v)]
    if not runs:
        return None
    E = max(r.size for r in runs)
    grid = np.full((len(runs), E), np.nan)
    for i, r in enumerate(runs):
        grid[i, : r.size] = r
    return (np.arange(1, E + 1), np.nanmean(grid, 0), np.nanmin(grid, 0), np.nanmax(grid, 0))


def make(root) -> list[Path]:
    root = Path(root)
    histories = read_json(results_dir(root) / "histories.json")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    handles = []
    for ax, cell, name, tag in zip(axes, ("lstm", "relu"), ("LSTM", "ReLU"), "ab"):
        c = curves(histories, cell)
        if c is not None:
            ep, mean, lo, hi = c
            handles = [
                ax.plot(ep, mean, label="average", color="C0")[0],
                ax.plot(ep, lo, label="minimum", color="C2", ls="--")[0],
                ax.plot(ep, hi, label="maximum", color="C3", ls="--")[0],
            ]
            ax.set_yscale("log")
        ax.set_title(f"({tag}) {name}: validation loss ({len(histories.get(cell, {}))} runs)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("mean validation loss (MSE)")
        ax.grid(alpha=0.3, which="both")
    if handles:  # one legend below both panels: inside, it covered a curve
        fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = savefig_atomic(fig, root / "fig2.png")
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
