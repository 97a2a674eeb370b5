"""The remedies study's outputs, from its per-run scores (`paper_figs.remedies`):

    remedies.csv   one row per (cell, remedy): COLUMNS
    remedies.md    the table and a paragraph on what helped
    remedies.png   the worst case per remedy: each run's shortest failing Dyck word, one
                   panel per cell (log scale; runs right on every word up to N at the top)

A run's shortest failing word is None when `verify` found no failure up to N ("none" in the
table, as the paper writes a maximum FPF that does not exist). Shares are over all runs of
the cell and remedy (a run that diverged before its first epoch ended has no model and
counts as neither right nor certified); the mean FPF is over the runs with a model.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from counting.fileformat import write_json_atomic, write_text_atomic  # noqa: E402
from paper_figs.layout import savefig_atomic, write_csv  # noqa: E402

COLUMNS = ("cell", "remedy", "runs", "diverged", "refused", "mean_very_long_fpf",
           "share_very_long_all_right", "shortest_failure_median", "shortest_failure_min",
           "shortest_failure_max", "share_certified")
NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}
# remedies that do not train from a standard initialisation
NOT_TRAINED_FROM_SCRATCH = ("repair", "construction init, noise 0.1")


def _lengths(recs: list[dict]) -> list[float]:
    """Shortest failing word per scored run; inf where none up to N."""
    return [math.inf if r["shortest_failure"] is None else r["shortest_failure"]
            for r in recs if "shortest_failure" in r]


def _fmt_len(x: float):
    """A length for the table: "none" (no failure up to N), else an int (a median of two
    lengths may end in .5)."""
    if math.isinf(x):
        return "none"
    return int(x) if float(x).is_integer() else float(x)


def summarize(cell: str, remedy: str, recs: list[dict]) -> dict:
    """The csv row of one cell and remedy."""
    scored = [r for r in recs if "shortest_failure" in r]
    lengths = sorted(_lengths(recs))
    n = len(recs)
    row = {"cell": cell, "remedy": remedy, "runs": n,
           "diverged": sum(r["diverged"] for r in recs),
           "refused": sum(r.get("refused") is not None for r in recs),
           "mean_very_long_fpf": (float(np.mean([r["very_long_fpf"] for r in scored]))
                                  if scored else None),
           "share_very_long_all_right": (sum(r["very_long_all_right"] for r in scored) / n
                                         if n else None),
           "shortest_failure_median": None, "shortest_failure_min": None,
           "shortest_failure_max": None,
           "share_certified": sum(math.isinf(x) for x in lengths) / n if n else None}
    if lengths:
        mid = len(lengths) // 2
        median = lengths[mid] if len(lengths) % 2 else (lengths[mid - 1] + lengths[mid]) / 2
        row["shortest_failure_median"] = _fmt_len(median)
        row["shortest_failure_min"] = _fmt_len(lengths[0])
        row["shortest_failure_max"] = _fmt_len(lengths[-1])
    return row


def table_rows(results: dict) -> list[dict]:
    rows = []
    for cell in NAMES:
        for remedy, recs in results.items():
            mine = [r for r in recs if r["cell"] == cell]
            if mine:
                rows.append(summarize(cell, remedy, mine))
    return rows


def _md_table(rows: list[dict], n: int) -> str:
    head = ("| cell | remedy | runs | diverged | mean very-long FPF | all right (share) | "
            f"shortest failing word: median (min / max) | certified to {n} (share) |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fpf = "-" if r["mean_very_long_fpf"] is None else f"{r['mean_very_long_fpf']:.1f}"
        med, lo, hi = (("-" if v is None else v) for v in (
            r["shortest_failure_median"], r["shortest_failure_min"], r["shortest_failure_max"]))
        refused = f" ({r['refused']} refused)" if r["refused"] else ""
        lines.append(
            f"| {NAMES[r['cell']]} | {r['remedy']} | {r['runs']}{refused} | {r['diverged']} | "
            f"{fpf} | {r['share_very_long_all_right']:.2f} | {med} ({lo} / {hi}) | "
            f"{r['share_certified']:.2f} |")
    return "\n".join(lines)


def _key(r: dict) -> tuple:
    med = r["shortest_failure_median"]
    med = math.inf if med == "none" else (med or 0)
    return (r["share_certified"] or 0, med)


def paragraph(rows: list[dict], n: int) -> str:
    """What helped, per cell, in plain words (computed from the rows)."""
    out = []
    trained, started_exact = [], []
    for cell in NAMES:
        mine = {r["remedy"]: r for r in rows if r["cell"] == cell}
        base = mine.get("baseline")
        if base is None:
            continue
        better = [r for name, r in mine.items() if name != "baseline" and _key(r) > _key(base)]
        better.sort(key=_key, reverse=True)
        text = (f"**{NAMES[cell]}**: the baseline's median shortest failing Dyck word has "
                f"{base['shortest_failure_median']} tokens and "
                f"{base['share_certified']:.0%} of its runs are right on every word up to {n}.")
        if better:
            top = better[0]
            text += (f" Best: {top['remedy']} (median {top['shortest_failure_median']}, "
                     f"{top['share_certified']:.0%} certified).")
            others = ", ".join(r["remedy"] for r in better[1:])
            if others:
                text += f" Also better than the baseline: {others}."
        else:
            text += " No remedy did better than the baseline in the worst case."
        for name, r in mine.items():
            if r["share_certified"]:
                group = started_exact if name in NOT_TRAINED_FROM_SCRATCH else trained
                group.append(f"{NAMES[cell]} with {name} ({r['share_certified']:.0%})")
        out.append(text)
    if trained:
        verdict = ("Trained from a standard start, some runs are right on every Dyck word up "
                   f"to {n}: " + "; ".join(trained) + ".")
    else:
        verdict = ("No remedy that trains from a standard start (torch or IRNN init) makes a "
                   f"single cell right on every Dyck word up to {n}.")
    if started_exact:
        verdict += (" Certified to " + f"{n} " + "without a standard start: "
                    + "; ".join(started_exact) + ".")
    else:
        verdict += (" Neither starting at the noisy construction nor repairing the weights "
                    f"gave a run certified to {n}.")
    return "\n\n".join(out + [verdict])

def figure(results: dict, n: int, path: Path) -> Path:
    cells = [c for c in NAMES if any(r["cell"] == c for recs in results.values() for r in recs)]
    fig, axes = plt.subplots(1, len(cells), figsize=(5.2 * len(cells), 4.6), squeeze=False)
    rng = np.random.default_rng(0)
    top = n * 1.6
    for ax, cell in zip(axes[0], cells):
        names = [k for k, recs in results.items() if any(r["cell"] == cell for r in recs)]
        for x, name in enumerate(names):
            ls = np.array(_lengths([r for r in results[name] if r["cell"] == cell]), float)
            if not ls.size:
                continue
            jit = x + rng.uniform(-0.18, 0.18, ls.size)
            fin = np.isfinite(ls)
            ax.scatter(jit[fin], ls[fin], s=14, alpha=0.7, color="C0")
            ax.scatter(jit[~fin], np.full((~fin).sum(), top), s=22, marker="^", color="C2")
            med = np.median(np.where(fin, ls, top))
            ax.plot([x - 0.3, x + 0.3], [med, med], color="k", lw=1.5)
        ax.axhline(n, color="0.6", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
        ax.set_title(f"{NAMES[cell]}: shortest failing Dyck word per run")
        ax.set_ylabel("tokens (log scale)")
        ax.text(0.01, 0.98, f"▲ right on every word up to {n}", transform=ax.transAxes,
                va="top", fontsize=7, color="C2")
        ax.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    out = savefig_atomic(fig, path)
    plt.close(fig)
    return out


def make(root, results: dict, meta: dict) -> list[Path]:
    """Write remedies.csv / .md / .png (+ remedies.json with the study's settings)."""
    root = Path(root)
    n = meta["max_length"]
    rows = table_rows(results)
    write_csv(root / "remedies.csv", COLUMNS, rows)
    md = (f"# What fixes counting? ({meta['runs']} runs per cell and remedy, "
          f"{meta['epochs']} epochs, {meta['profile']} data, seed {meta['seed']})\n\n"
          f"Worst case = the shortest Dyck word a run's best model gets wrong "
          f"(`counting verify`, every word up to {n} tokens).\n\n"
          f"{_md_table(rows, n)}\n\n{paragraph(rows, n)}\n")
    write_text_atomic(root / "remedies.md", md)
    write_json_atomic(root / "remedies.json", meta)
    png = figure(results, n, root / "remedies.png")
    return [root / "remedies.csv", root / "remedies.md", root / "remedies.json", png]
