"""The capacity study's outputs, from its per-run scores (`paper_figs.capacity`):

    capacity.csv   one row per (cell, hidden size): COLUMNS
    capacity.md    a paragraph answering "does capacity buy long-range counting?", the table
    capacity.png   very-long FPF, share fully right, worst case and depth-probe R^2 against H
    capacity.json  the options, the rows, and the seconds each hidden size took

Columns (a run = the best-by-validation model of one training run; means and medians are
over the runs with a model - a run that diverged in its first epoch has none):
- runs, diverged: runs trained; runs whose loss became NaN/inf (their best model is kept);
- very_long_fpf_mean / _min / _max: the runs' very-long FPF (each the mean over the words);
- share_fully_right: per run, the share of very-long words it gets right at every token
  (fully right words / words), then averaged over the runs;
- long_accuracy_mean: the runs' long-set sequence accuracy (%), averaged;
- shortest_failure_median: the median over runs of the length of the shortest failing Dyck
  word `probes.verify` found up to N ("none": no failing word found up to N for at least
  half the runs; a median of two lengths may end in .5);
- shortest_failure_method: "exact" when verify was exact for every run (the found words are
  the shortest: H = 1), else "bound": each found word fails, but a shorter one may fail too,
  so the column is an upper bound on the median shortest failing length, and the lower
  bound is certified_length_median + 2 (every word up to the certified length is right);
- certified_length_median: the median over runs of verify's certified length;
- depth_probe_r2_median: the median linear depth-probe R^2 (`probes.depth_probe`) over the
  runs with a defined probe.

The paragraph compares, per cell, the smallest hidden size of the study with the largest:
the very-long FPF by a two-sided Mann-Whitney U test over the runs (significant at p <
0.05), the share fully right and the worst case. A (cell, H) "counts long" when its runs get
at least half the very-long words fully right on average (share_fully_right >= 0.5) and most
runs have no failing word up to N (shortest_failure_median "none"). Capacity buys
long-range counting for a cell when some larger H counts long and the smallest does not.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from counting.fileformat import write_json_atomic, write_text_atomic  # noqa: E402
from paper_figs.layout import savefig_atomic, write_csv  # noqa: E402
from paper_figs.paper_values import TABLE1  # noqa: E402

COLUMNS = (
    "cell",
    "hidden_size",
    "runs",
    "diverged",
    "very_long_fpf_mean",
    "very_long_fpf_min",
    "very_long_fpf_max",
    "share_fully_right",
    "long_accuracy_mean",
    "shortest_failure_median",
    "shortest_failure_method",
    "certified_length_median",
    "depth_probe_r2_median",
)
NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}
COLORS = {"lstm": "tab:blue", "relu": "tab:orange", "gru": "tab:green"}
ALPHA = 0.05  # significance level of the Mann-Whitney test
LONG_SHARE = 0.5  # share fully right at or above which a (cell, H) may count long


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def _fmt_len(x: float | None):
    """A length: "none" (infinite: no failure up to N), an int, or a float ending in .5."""
    if x is None:
        return None
    if math.isinf(x):
        return "none"
    return int(x) if float(x).is_integer() else float(x)


def _scored(recs: list[dict]) -> list[dict]:
    return [r for r in recs if "very_long_fpf" in r]


def fpfs(recs: list[dict]) -> list[float]:
    """The very-long FPF of every scored run."""
    return [r["very_long_fpf"] for r in _scored(recs)]


def summarize(cell: str, h: int, recs: list[dict]) -> dict:
    """The csv row of one cell and hidden size from its per-run scores."""
    s = _scored(recs)
    f = fpfs(recs)
    lengths = [math.inf if r["shortest_failure"] is None else r["shortest_failure"] for r in s]
    r2 = [r["depth_probe_r2"] for r in s if r["depth_probe_r2"] is not None]
    return {
        "cell": cell,
        "hidden_size": h,
        "runs": len(recs),
        "diverged": sum(bool(r["diverged"]) for r in recs),
        "very_long_fpf_mean": float(np.mean(f)) if f else None,
        "very_long_fpf_min": min(f) if f else None,
        "very_long_fpf_max": max(f) if f else None,
        "share_fully_right": (
            float(np.mean([r["very_long_share_right"] for r in s])) if s else None
        ),
        "long_accuracy_mean": float(np.mean([r["long_accuracy"] for r in s])) if s else None,
        "shortest_failure_median": _fmt_len(_median(lengths)),
        "shortest_failure_method": (
            None if not s else "exact" if all(r["verify_method"] == "exact" for r in s) else "bound"
        ),
        "certified_length_median": _fmt_len(_median([r["certified_length"] for r in s])),
        "depth_probe_r2_median": _median(r2),
    }


def table_rows(results: dict) -> list[dict]:
    """Rows in cell order, then hidden size. results: {H: {"runs": [per-run scores]}}."""
    return [
        summarize(cell, h, [r for r in results[h]["runs"] if r["cell"] == cell])
        for cell in NAMES
        for h in sorted(results)
        if any(r["cell"] == cell for r in results[h]["runs"])
    ]


def mann_whitney(a: list[float], b: list[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value of two samples (None if either has < 2 values; 1.0
    when every value is the same)."""
    from scipy.stats import mannwhitneyu

    if len(a) < 2 or len(b) < 2:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def counts_long(row: dict) -> bool:
    """Most very-long words fully right, and most runs without a failing word up to N."""
    share = row["share_fully_right"]
    return share is not None and share >= LONG_SHARE and row["shortest_failure_median"] == "none"


def length_text(row: dict, n: int) -> str:
    """The median shortest failing word of a row in words: exact, or the bound's range."""
    x, cert = row["shortest_failure_median"], row["certified_length_median"]
    if x is None:
        return "-"
    if row["shortest_failure_method"] == "exact":
        return f"none up to {n}" if x == "none" else f"{x}"
    if x == "none":
        return f"none found up to {n} (certified to {cert})"
    if cert + 2 >= x:  # the medians meet: the median shortest failing length is known
        return f"{x} (a bound that the certificate meets)"
    return f"{cert + 2}-{x} (a bound)"


def _num(x, fmt: str = ".1f", scale: float = 1.0) -> str:
    return "-" if x is None else format(scale * x, fmt)


def cell_sentence(
    cell: str, lo: dict, hi: dict, p: float | None, n: int, peak: dict | None = None
) -> str:
    """One sentence comparing the smallest (lo) and the largest (hi) hidden size of a cell;
    `peak`: the row of a hidden size in between with a higher mean FPF than both, if any."""
    a, b = lo["very_long_fpf_mean"], hi["very_long_fpf_mean"]
    if p is None or a is None or b is None:
        trend = "too few runs to test"
    elif p < ALPHA:
        trend = f"{'higher' if b > a else 'lower'}, Mann-Whitney p = {p:.2g}"
    else:
        trend = f"no significant change, Mann-Whitney p = {p:.2g}"
    if peak is not None:
        trend += (
            f"; highest mean at H = {peak['hidden_size']}: "
            f"{_num(peak['very_long_fpf_mean'])}, not tested"
        )
    return (
        f"{NAMES[cell]}: mean very-long FPF {_num(a)} at H = {lo['hidden_size']}, "
        f"{_num(b)} at H = {hi['hidden_size']} ({trend}); very-long words fully right "
        f"{_num(lo['share_fully_right'], '.0f', 100)}% -> "
        f"{_num(hi['share_fully_right'], '.0f', 100)}%; median shortest failing word "
        f"{length_text(lo, n)} -> {length_text(hi, n)}; median depth-probe R² "
        f"{_num(lo['depth_probe_r2_median'], '.3f')} -> "
        f"{_num(hi['depth_probe_r2_median'], '.3f')}."
    )


def paragraph(rows: list[dict], results: dict, max_length: int) -> str:
    """The answer to "does capacity buy long-range counting?", from the table's rows and the
    per-run scores (the rules are in the module docstring)."""
    hs = sorted(results)
    h0, h1 = hs[0], hs[-1]
    by = {(r["cell"], r["hidden_size"]): r for r in rows}
    cells = [c for c in NAMES if (c, h0) in by]
    if h0 == h1:
        means = [f"{NAMES[c]} {_num(by[c, h0]['very_long_fpf_mean'])}" for c in cells]
        return (
            f"One hidden size (H = {h0}) only: nothing to compare. Mean very-long FPF: "
            + ", ".join(means)
            + "."
        )
    sentences, bought, better, worse = [], [], [], []
    for c in cells:
        lo, hi = by[c, h0], by[c, h1]
        runs = {h: fpfs([r for r in results[h]["runs"] if r["cell"] == c]) for h in (h0, h1)}
        p = mann_whitney(runs[h0], runs[h1])
        means = [
            by[c, h] for h in hs if (c, h) in by and by[c, h]["very_long_fpf_mean"] is not None
        ]
        top = max(means, key=lambda r: r["very_long_fpf_mean"], default=None)
        peak = top if top is not None and top["hidden_size"] not in (h0, h1) else None
        sentences.append(cell_sentence(c, lo, hi, p, max_length, peak))
        if p is not None and p < ALPHA and lo["very_long_fpf_mean"] is not None:
            (better if hi["very_long_fpf_mean"] > lo["very_long_fpf_mean"] else worse).append(c)
        longer = [h for h in hs[1:] if (c, h) in by and counts_long(by[c, h])]
        if longer and not counts_long(lo):
            bought.append(f"{NAMES[c]} (from H = {longer[0]})")
    names = lambda cs: ", ".join(NAMES[c] for c in cs)  # noqa: E731
    share = max((r["share_fully_right"] or 0.0) for r in rows)
    if bought:
        verdict = (
            f"Yes for {', '.join(bought)}: there, most very-long words are fully right "
            f"and most runs have no failing Dyck word up to {max_length}, unlike at "
            f"H = {h0}."
        )
    elif better:
        verdict = (
            f"Not long-range counting: from H = {h0} to H = {h1} the mean very-long FPF "
            f"rises significantly for {names(better)}, but at no hidden size do most "
            f"runs count right through the very-long words (share of very-long words "
            f"fully right at most {100 * share:.0f}%)."
        )
    else:
        verdict = (
            f"No: from H = {h0} to H = {h1} no cell's very-long FPF rises "
            f"significantly, and at no hidden size do most runs count right through "
            f"the very-long words (share fully right at most {100 * share:.0f}%)."
        )
    if worse:
        verdict += f" The mean very-long FPF falls significantly for {names(worse)}."
    return "**Does capacity buy long-range counting?** " + verdict + " " + " ".join(sentences)


def paper_sentence(rows: list[dict], profile: str) -> str | None:
    """H = 1 beside the paper's Table 1 very-long FPF averages (paper profile only)."""
    ones = {r["cell"]: r for r in rows if r["hidden_size"] == 1}
    if profile != "paper" or not ones:
        return None
    parts = [
        f"{NAMES[c]} {_num(ones[c]['very_long_fpf_mean'])} (paper "
        f"{TABLE1[c]['very_long_fpf'][0]:g})"
        for c in NAMES
        if c in ones
    ]
    return (
        "For reference, the mean very-long FPF at H = 1: "
        + ", ".join(parts)
        + " (every run here is scored, where the paper keeps the 10 best of 30 ReLU runs)."
    )


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def markdown(rows: list[dict], results: dict, meta: dict) -> str:
    head = (
        f"# Does capacity buy long-range counting? ({meta['runs']} runs per cell and "
        f"hidden size, {meta['epochs']} epochs, {meta['profile']} data, seed {meta['seed']})"
    )
    intro = (
        "The paper protocol at hidden sizes "
        f"{', '.join(str(h) for h in meta['hidden'])} (`python -m paper_figs.capacity`). "
        "Worst case: the shortest Dyck word a run's best model gets wrong (`probes.verify`, "
        f"every word up to {meta['max_length']} tokens); at H > 1 verify gives a sound "
        "bound: every word up to the certified length is right and the found word fails, "
        'so the shortest failing word lies between the two (method "bound"). Column '
        "definitions: `paper_figs/capacity_report.py`."
    )
    lines = [head, "", intro, "", paragraph(rows, results, meta["max_length"]), ""]
    ref = paper_sentence(rows, meta["profile"])
    if ref:
        lines += [ref, ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    seconds = {h: results[h].get("seconds", {}) for h in sorted(results)}
    total = sum(sum(s.values()) for s in seconds.values())
    lines += [
        "",
        "Wall time (recorded when each hidden size was trained and scored; a resumed "
        "one counts only its last session): "
        + ", ".join(
            f"H = {h} {s.get('train', 0):.0f} s training + {s.get('score', 0):.0f} s scoring"
            for h, s in seconds.items()
        )
        + f"; {total:.0f} s in all.",
        "",
    ]
    return "\n".join(lines)


def figure(rows: list[dict], results: dict, meta: dict, path: Path) -> Path:
    """Four panels against H: very-long FPF (runs, and the mean), share fully right, median
    shortest failing word (open markers: bounds), median depth-probe R^2."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    hs = sorted(results)
    n = meta["max_length"]
    rng = np.random.default_rng(0)  # horizontal jitter of the run dots, the same every time
    for k, cell in enumerate(NAMES):
        mine = [r for r in rows if r["cell"] == cell]
        if not mine:
            continue
        x = [r["hidden_size"] for r in mine]
        color = COLORS[cell]
        ax = axes[0, 0]
        for h in hs:
            f = fpfs([r for r in results[h]["runs"] if r["cell"] == cell])
            ax.scatter(
                h * 2 ** (0.06 * (k - 1) + rng.uniform(-0.02, 0.02, len(f))),
                f,
                s=9,
                color=color,
                alpha=0.45,
                linewidths=0,
            )
        ax.plot(x, [r["very_long_fpf_mean"] for r in mine], "o-", color=color, label=NAMES[cell])
        if meta["profile"] == "paper":
            ax.axhline(TABLE1[cell]["very_long_fpf"][0], color=color, ls=":", lw=1)
        axes[0, 1].plot(
            x,
            [100 * (r["share_fully_right"] or 0) for r in mine],
            "o-",
            color=color,
            label=NAMES[cell],
        )
        ax = axes[1, 0]
        y = [
            n * 1.25 if r["shortest_failure_median"] == "none" else r["shortest_failure_median"]
            for r in mine
        ]
        ax.plot(x, y, "-", color=color, label=NAMES[cell])
        for xi, yi, r in zip(x, y, mine):
            if yi is not None and r["shortest_failure_method"] == "bound" and yi <= n:
                # the range the median shortest failing length lies in
                ax.vlines(
                    xi * 2 ** (0.04 * (k - 1)),  # side by side, one cell beside another
                    r["certified_length_median"] + 2,
                    yi,
                    color=color,
                    lw=1.5,
                    alpha=0.6,
                )
            if yi is not None:
                ax.plot(
                    xi,
                    yi,
                    "o",
                    color=color,
                    mfc="white" if r["shortest_failure_method"] == "bound" else color,
                )
        axes[1, 1].plot(
            x, [r["depth_probe_r2_median"] for r in mine], "o-", color=color, label=NAMES[cell]
        )
    titles = [
        "very-long FPF (dots: runs; dotted: paper, H = 1)",
        "very-long words fully right (%, mean over runs)",
        f"median shortest failing word (open: bound, bar: its range; top: none to {n})",
        "median depth-probe R²",
    ]
    for ax, title in zip(axes.flat, titles):
        ax.set_xscale("log", base=2)
        ax.set_xticks(hs, [str(h) for h in hs])
        ax.set_xlabel("hidden size H")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1, 0].set_yscale("log")
    axes[1, 0].yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes[1, 0].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[1, 0].axhline(n, color="grey", lw=0.8, ls="--")
    axes[0, 1].set_ylim(-3, 103)
    axes[1, 1].set_ylim(-0.03, 1.03)
    axes[0, 0].legend(fontsize=9)
    fig.suptitle(
        f"Capacity: {meta['runs']} runs per cell and H, {meta['epochs']} epochs, "
        f"{meta['profile']} data, seed {meta['seed']}",
        fontsize=11,
    )
    fig.tight_layout()
    savefig_atomic(fig, path)
    plt.close(fig)
    return path


def make(root, results: dict, meta: dict) -> list[Path]:
    """Write capacity.csv / .md / .png / .json under root -> their paths."""
    root = Path(root)
    rows = table_rows(results)
    write_csv(root / "capacity.csv", COLUMNS, rows)
    write_text_atomic(root / "capacity.md", markdown(rows, results, meta))
    figure(rows, results, meta, root / "capacity.png")
    write_json_atomic(
        root / "capacity.json",
        {
            **meta,
            "rows": rows,
            "seconds": {str(h): results[h].get("seconds") for h in sorted(results)},
        },
    )
    return [root / f"capacity.{ext}" for ext in ("csv", "md", "png", "json")]
