"""The agreement rules of report.md, shared by one reproduction's report
(`paper_figs.report`) and the claims across seeds (`paper_figs.robustness_claims`).

- Table 1: the paper's average lies inside our [min, max] over runs, and the order of the
  cells by mean very-long FPF is the paper's (LSTM > ReLU > GRU).
- Table 2: significance at p < ALPHA, both or neither.
- Failure modes: the dominant first-failure class per cell on zigzag equals the paper's.

Their own module, so that report (which quotes the shipped robustness run through
paper_figs.robustness_reference) and robustness_claims do not import each other.
"""

from __future__ import annotations

from paper_figs import failure_modes as fm
from paper_figs.paper_values import FAILURE_MODES

NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}
SET_TITLES = {
    "train": "Training acc. %",
    "validation": "Validation acc. %",
    "long": "Long acc. %",
    "very_long_fpf": "Very long FPF",
}
PAPER_ORDER = ("lstm", "relu", "gru")  # the paper's cells by mean very-long FPF, highest first
ALPHA = 0.05  # Table 2's significance level


def table1_agrees(paper_mean: float, ours: dict) -> bool:
    """Table 1: the paper's average lies inside our [min, max] over runs (a table1 row)."""
    return ours["min"] - 1e-9 <= paper_mean <= ours["max"] + 1e-9


def cell_order(t1: list[dict]) -> list[str] | None:
    """The cells by our mean very-long FPF, highest first (None unless all three are there)."""
    fpf = {r["cell"]: r["mean"] for r in t1 if r["set"] == "very_long_fpf"}
    return sorted(fpf, key=fpf.get, reverse=True) if len(fpf) == 3 else None


def table2_agrees(paper_p: float, our_p: float) -> bool:
    """Table 2: the same verdict on significance at p < ALPHA (a NaN p: not significant)."""
    return (paper_p < ALPHA) == (our_p < ALPHA)


def failure_mode_agrees(fmt: list[dict], cell: str) -> tuple[str, bool]:
    """Failure modes: (our dominant first-failure class on zigzag or "no failure", whether
    it is the paper's)."""
    ours = fm.dominant(fmt, cell) or "no failure"
    return ours, ours == FAILURE_MODES[cell][0]
