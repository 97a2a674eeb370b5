"""The claims report.md checks, read from each seed's reproduction and summarized over seeds.

    obs = seed_observations(DIR / "seed_3")   # -> [Observation] of one reproduction
    rows = summarize([seed_observations(d) for d in seed_dirs])   # -> robustness.csv rows

One row per claim of report.md, decided by report.md's own rules (`paper_figs.report`:
table1_agrees, cell_order, table2_agrees, failure_mode_agrees). Each claim has a
seed-level statistic - one number per seed - summarized over the seeds:

- Table 1, each cell x set: agrees when the paper's average lies in our min-max over the
  kept runs; paper_value = the paper's average; statistic = our average over the kept runs
  (% accuracy, or very-long FPF).
- The order of the cells: agrees when our order by average very-long FPF is LSTM > ReLU >
  GRU; statistic = min(LSTM - ReLU, ReLU - GRU) of our averages (> 0 iff the paper's
  order); paper_value = the same margin of the paper's averages (45.1).
- Table 2, each cell x loss set: agrees on the same significance verdict at p < 0.05;
  paper_value = the paper's p; statistic = our p.
- Failure mode, each cell: agrees when our dominant first-failure class on zigzag is the
  paper's; paper_value = the paper's class; statistic = the share of our first failures in
  that class.
- Worst case, each cell (only when the seeds have results/worst_case.csv): no paper value
  (empty); statistic = the median, over the cell's best-by-validation models (kind "best"),
  of the length of the shortest failing Dyck word (`inf` when none fails up to
  max_length); share_agree = the share of seeds whose statistic is < 1000 (SHORT_WORD).

Columns of robustness.csv (COLUMNS):
- claim: the claim, in words;
- paper_value: the paper's number (or class; empty for the worst-case rows);
- share_agree: the share of seeds that agree (0..1; worst-case rows: see above);
- median, p5, p95: median, 5th and 95th percentiles over the seeds of the seed-level
  statistic (linear interpolation, numpy's default; `inf` allowed; NaN statistics - e.g. a
  regression that could not be fitted - are left out);
- paper_percentile: the paper value's percentile among our seeds' statistics, 0..100 (the
  share of seeds below it plus half of those equal to it, in %; empty where the paper value
  is not a number);
- seeds: the number of seeds on which the claim was checked (a seed whose tables lack the
  cell - every run diverged - does not count);
- key: a stable id of the claim (e.g. "table1/lstm/train", "order", "table2/gru/long",
  "failure/relu", "worst_case/lstm"), which report.md uses to look a disagreement up.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from paper_figs import failure_modes as fm
from paper_figs.agreement import (
    ALPHA,
    NAMES,
    PAPER_ORDER,
    SET_TITLES,
    cell_order,
    table1_agrees,
    table2_agrees,
)
from paper_figs.agreement import failure_mode_agrees as _failure_agrees
from paper_figs.layout import read_csv, results_dir
from paper_figs.paper_values import CELLS, FAILURE_MODES, TABLE1, TABLE2

COLUMNS = (
    "claim",
    "paper_value",
    "share_agree",
    "median",
    "p5",
    "p95",
    "paper_percentile",
    "seeds",
    "key",
)
SHORT_WORD = 1000  # worst-case rows: share of seeds whose median shortest failure is shorter
WORST_CASE = "worst_case.csv"  # results/worst_case.csv of a seed, when written


@dataclass(frozen=True)
class Observation:
    """One claim on one seed. key: a stable id (e.g. "table1/lstm/train"); agree: report.md's
    verdict (for the worst-case rows: statistic < SHORT_WORD); value: the seed-level
    statistic (float, may be inf or NaN)."""

    key: str
    claim: str
    paper_value: float | str | None
    agree: bool
    value: float


def order_margin(means: dict[str, float]) -> float:
    """min(LSTM - ReLU, ReLU - GRU) of mean very-long FPFs: > 0 iff the paper's order."""
    a, b, c = (means[k] for k in PAPER_ORDER)
    return min(a - b, b - c)


def _table1(t1: list[dict]) -> list[Observation]:
    out = []
    for cell in CELLS:
        for s, title in SET_TITLES.items():
            ours = next((r for r in t1 if r["cell"] == cell and r["set"] == s), None)
            if ours is None:
                continue
            paper = TABLE1[cell][s][0]
            out.append(
                Observation(
                    f"table1/{cell}/{s}",
                    f"Table 1, {NAMES[cell]} {title}: the paper's average lies in our min-max",
                    paper,
                    table1_agrees(paper, ours),
                    float(ours["mean"]),
                )
            )
    order = cell_order(t1)
    if order is not None:
        ours = {r["cell"]: float(r["mean"]) for r in t1 if r["set"] == "very_long_fpf"}
        paper = {c: TABLE1[c]["very_long_fpf"][0] for c in CELLS}
        out.append(
            Observation(
                "order",
                "Order of the cells by mean very-long FPF: "
                + " > ".join(NAMES[c] for c in PAPER_ORDER),
                round(order_margin(paper), 10),
                tuple(order) == PAPER_ORDER,
                order_margin(ours),
            )
        )
    return out


def _table2(t2: list[dict]) -> list[Observation]:
    out = []
    for r in t2:
        cell, s = r["cell"], r["loss_set"]
        paper_p = TABLE2[cell][s][1]
        verdict = "significant" if paper_p < ALPHA else "not significant"
        p = float(r["p"]) if r["p"] is not None else math.nan
        out.append(
            Observation(
                f"table2/{cell}/{s}",
                f"Table 2, {NAMES[cell]} on {s} loss: FPF on -log(loss) {verdict} at p < {ALPHA:g}",
                paper_p,
                table2_agrees(paper_p, p),
                p,
            )
        )
    return out


def _failure_modes(fmt: list[dict]) -> list[Observation]:
    out = []
    for cell in CELLS:
        rows = [r for r in fmt if r["cell"] == cell]
        if not rows:
            continue
        paper_cls = FAILURE_MODES[cell][0]
        failed = sum(r["count"] for r in rows if r["class"] in fm.CLASSES)
        mine = sum(r["count"] for r in rows if r["class"] == paper_cls)
        _, agree = _failure_agrees(fmt, cell)
        out.append(
            Observation(
                f"failure/{cell}",
                f"Failure mode, {NAMES[cell]}: the dominant first failure on zigzag is {paper_cls}",
                paper_cls,
                agree,
                mine / failed if failed else math.nan,
            )
        )
    return out


def _worst_case(rows: list[dict]) -> list[Observation]:
    out = []
    for cell in CELLS:
        best = [r for r in rows if r["cell"] == cell and r["kind"] == "best"]
        if not best:
            continue
        lengths = [
            math.inf
            if r["shortest_failure_length"] is None
            else float(r["shortest_failure_length"])
            for r in best
        ]
        med = percentile(lengths, 50)
        out.append(
            Observation(
                f"worst_case/{cell}",
                f"Worst case, {NAMES[cell]}: shortest failing Dyck word (worst case), median "
                f"over the {len(best)} best models",
                None,
                med < SHORT_WORD,
                med,
            )
        )
    return out


def seed_observations(seed_dir) -> list[Observation]:
    """The claims of one reproduction DIR (table1.csv, table2.csv, failure_modes.csv, and
    results/worst_case.csv when present)."""
    seed_dir = Path(seed_dir)
    obs = _table1(read_csv(seed_dir / "table1.csv"))
    obs += _table2(read_csv(seed_dir / "table2.csv"))
    obs += _failure_modes(read_csv(seed_dir / "failure_modes.csv"))
    worst = results_dir(seed_dir) / WORST_CASE
    if worst.is_file():
        obs += _worst_case(read_csv(worst))
    return obs


def percentile(values, q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics
    (numpy's default method), where +-inf values are allowed: an interpolation towards an
    infinite neighbour is that infinity."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    a, b, t = xs[lo], xs[hi], pos - lo
    if t == 0 or a == b:
        return a
    if math.isinf(b):
        return b
    if math.isinf(a):
        return a
    return a + (b - a) * t


def percentile_of(value: float, values) -> float:
    """The percentile of `value` among `values` (0..100): % below it plus half % equal."""
    xs = list(values)
    below = sum(x < value for x in xs)
    equal = sum(x == value for x in xs)
    return 100.0 * (below + 0.5 * equal) / len(xs)


def summarize(per_seed: list[list[Observation]]) -> list[dict]:
    """robustness.csv rows (COLUMNS, and "key"), one per claim in first-seen order."""
    keys: dict[str, list[Observation]] = {}
    for obs in per_seed:
        for o in obs:
            keys.setdefault(o.key, []).append(o)
    rows = []
    for group in keys.values():
        values = [o.value for o in group if not math.isnan(o.value)]
        paper = group[0].paper_value
        numeric = isinstance(paper, (int, float)) and values
        rows.append(
            {
                "key": group[0].key,
                "claim": Counter(o.claim for o in group).most_common(1)[0][0],
                "paper_value": paper,
                "share_agree": sum(o.agree for o in group) / len(group),
                "median": percentile(values, 50) if values else None,
                "p5": percentile(values, 5) if values else None,
                "p95": percentile(values, 95) if values else None,
                "paper_percentile": percentile_of(paper, values) if numeric else None,
                "seeds": len(group),
            }
        )
    return rows


__all__ = [
    "COLUMNS",
    "Observation",
    "SHORT_WORD",
    "percentile",
    "percentile_of",
    "seed_observations",
    "summarize",
]
