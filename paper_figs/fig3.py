"""Figure 3: where the 60 models of each cell fail on the zigzag sequence with j = 500:
histograms of the FPF over positions 0-2000 (top) and 500-1000 (bottom), with the depth
curve overlaid. Reads results/zigzag.csv; writes DIR/fig3.png.

Unlike the authors' plotting code (which took element [1] of the list of failing
sequences' FPFs and repeated counts tenfold), this plots exactly the j = 500 sequence.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from counting.dyck import depth_profile  # noqa: E402
from counting.generators import zigzag  # noqa: E402
from paper_figs.layout import read_csv, results_dir, run_module, savefig_atomic  # noqa: E402
from paper_figs.paper_values import CELLS  # noqa: E402

NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}
J = 500


def make(root, j: int = J) -> list[Path]:
    """Plot zigzag `j` (500 as in the paper; the largest j in the data if 500 is absent,
    as in the smoke profile)."""
    root = Path(root)
    all_rows = read_csv(results_dir(root) / "zigzag.csv")
    if not all_rows:
        raise FileNotFoundError(f"{root}: results/zigzag.csv has no rows")
    if not any(r["j"] == j for r in all_rows):
        j = max(r["j"] for r in all_rows)
    rows = [r for r in all_rows if r["j"] == j]
    length = int(rows[0]["length"])
    depth = depth_profile(zigzag(j, length))
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for col, cell in enumerate(CELLS):
        fpf = np.array([r["fpf"] for r in rows if r["cell"] == cell], dtype=float)
        for row, (lo, hi, width) in enumerate(((0, length, 20), (j, 2 * j, 5))):
            ax = axes[row, col]
            sel = fpf[(fpf >= lo) & (fpf <= hi)]
            ax.hist(
                sel,
                bins=np.arange(lo, hi + width, width),
                color="C0",
                alpha=0.8,
                label=f"models failing here ({sel.size}/{fpf.size})",
            )
            # the last bin, [hi, hi + width), holds the FPFs equal to hi (at 1000: the models
            # failing when the depth first returns to 0): show it whole
            ax.set_xlim(lo, hi + width)
            ax.set_ylabel("models")
            twin = ax.twinx()
            pos = np.arange(lo, min(hi + 1, length))
            twin.plot(pos, depth[pos], color="C3", lw=1)
            twin.set_ylabel("depth", color="C3")
            ax.set_xlabel("position (FPF)")
            tag = "abc"[col] if row == 0 else "def"[col]
            if row == 0:
                ax.set_title(f"({tag}) {NAMES[cell]} - Zigzag {j} ({fpf.size} models)")
            else:
                ax.set_title(f"({tag}) {NAMES[cell]} - Detail: {sel.size} models in {lo}-{hi}")
    fig.tight_layout()
    path = savefig_atomic(fig, root / "fig3.png")
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
