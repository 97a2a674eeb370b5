"""The seed lottery: how rare are runs that count to 1000? A study of a GPU sweep's summary.

    counting lottery SUMMARY.csv --out DIR
    (alias: python -m paper_figs.seed_lottery SUMMARY.csv --out DIR)

SUMMARY.csv is written by `counting sweep --device cuda` (counting.gpu.sweep: one row per run
with very_long_fpf, very_long_fully_right, very_long_n, verdict, ...). Per cell it reports the
distribution of the very-long FPF (mean FPF of the run's best-epoch model over the very-long
set), the share of runs with EVERY very-long sequence right and with AT LEAST ONE right (the
paper's single ReLU in 30 had 4 of 100), each with a 95% Wilson interval - a share of 0 out of
N still bounds the rate - and the runs' failure verdicts. Writes DIR/seed_lottery.png and
DIR/seed_lottery.json, and prints a table.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

from counting.fileformat import write_text_atomic
from counting.options import OneLineParser
from counting.paths import declare_paths
from paper_figs.layout import parse_value, savefig_atomic

NEEDED = ("cell", "seed", "very_long_fpf", "very_long_fully_right", "very_long_n", "verdict")
ORDER = ("lstm", "relu", "gru")
NAMES = {"lstm": "LSTM", "relu": "ReLU", "gru": "GRU"}


def read_summary(path) -> list[dict]:
    """The summary rows; empty fields -> None, numbers parsed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such summary file (write one with `counting sweep --device cuda`)"
        )
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a GPU sweep summary, missing column(s) {missing}")
        return [{k: parse_value(v) for k, v in row.items()} for row in reader]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (0..1)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def cell_stats(rows: list[dict]) -> dict:
    """Statistics of one cell's runs (see the module docstring)."""
    valid = [r for r in rows if r["very_long_fpf"] is not None]
    fpf = np.array([r["very_long_fpf"] for r in valid], dtype=float)
    n = len(rows)
    all_right = sum(r["very_long_fully_right"] == r["very_long_n"] for r in valid)
    any_right = sum(r["very_long_fully_right"] > 0 for r in valid)
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    q = np.percentile(fpf, [0, 5, 25, 50, 75, 95, 100]) if fpf.size else [math.nan] * 7
    top = sorted(valid, key=lambda r: -r["very_long_fpf"])[:5]
    return {
        "runs": n,
        "no_valid_model": n - len(valid),
        "very_long_fpf": {
            "mean": float(fpf.mean()) if fpf.size else math.nan,
            **{k: float(v) for k, v in zip(("min", "p5", "p25", "median", "p75", "p95", "max"), q)},
        },
        "all_very_long_right": {
            "count": all_right,
            "share": all_right / n if n else math.nan,
            "ci95": wilson(all_right, n),
        },
        "any_very_long_right": {
            "count": any_right,
            "share": any_right / n if n else math.nan,
            "ci95": wilson(any_right, n),
        },
        "verdicts": dict(sorted(verdicts.items(), key=lambda kv: -kv[1])),
        "top_seeds": [
            {
                "seed": r["seed"],
                "very_long_fpf": r["very_long_fpf"],
                "very_long_fully_right": r["very_long_fully_right"],
            }
            for r in top
        ],
    }


def study(rows: list[dict]) -> dict:
    cells = [c for c in ORDER if any(r["cell"] == c for r in rows)]
    cells += sorted({r["cell"] for r in rows} - set(cells))
    if not cells:
        raise ValueError("the summary has no runs")
    return {c: cell_stats([r for r in rows if r["cell"] == c]) for c in cells}


def plot(rows: list[dict], stats: dict, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.8))
    fpf_all = [r["very_long_fpf"] for r in rows if r["very_long_fpf"] is not None]
    hi = max(fpf_all, default=1.0) or 1.0
    bins = np.linspace(0, hi, 51)
    for i, (cell, s) in enumerate(stats.items()):
        fpf = [
            r["very_long_fpf"] for r in rows if r["cell"] == cell and r["very_long_fpf"] is not None
        ]
        ax0.hist(
            fpf,
            bins=bins,
            histtype="step",
            lw=1.6,
            color=f"C{i}",
            label=f"{NAMES.get(cell, cell)} ({len(fpf)} runs, median "
            f"{s['very_long_fpf']['median']:.0f})",
        )
    ax0.set_yscale("log")
    ax0.set_xlabel("very-long FPF (mean over the set, best-epoch model)")
    ax0.set_ylabel("runs")
    ax0.set_title("(a) distribution of the very-long FPF over seeds")
    ax0.legend(fontsize=8)
    x = np.arange(len(stats))
    for j, key in enumerate(("any_very_long_right", "all_very_long_right")):
        share = np.array([s[key]["share"] for s in stats.values()]) * 100
        lo = np.array([s[key]["ci95"][0] for s in stats.values()]) * 100
        up = np.array([s[key]["ci95"][1] for s in stats.values()]) * 100
        err = np.clip([share - lo, up - share], 0, None)  # rounding can put share outside
        ax1.bar(
            x + (j - 0.5) * 0.38,
            share,
            0.38,
            yerr=err,
            capsize=4,
            color=f"C{j + 3}",
            label="at least one sequence right" if j == 0 else "every sequence right",
        )
        for xi, s in zip(x, stats.values()):
            ax1.annotate(
                f"{s[key]['count']}/{s['runs']}",
                (xi + (j - 0.5) * 0.38, 0),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
    ax1.set_xticks(x, [NAMES.get(c, c) for c in stats])
    ax1.set_ylabel("% of runs (95% Wilson interval)")
    ax1.set_title("(b) runs right on the very-long set")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    out = savefig_atomic(fig, path)
    plt.close(fig)
    return out


def table(stats: dict) -> str:
    head = (
        f"{'cell':<6}{'runs':>8}{'invalid':>8}{'FPF med':>9}{'p95':>8}{'max':>8}"
        f"{'any right':>16}{'all right':>16}  top verdict"
    )
    lines = [head]
    for cell, s in stats.items():
        f = s["very_long_fpf"]
        a, b = s["any_very_long_right"], s["all_very_long_right"]
        top = next(iter(s["verdicts"]), "-")
        lines.append(
            f"{cell:<6}{s['runs']:>8}{s['no_valid_model']:>8}{f['median']:>9.1f}"
            f"{f['p95']:>8.1f}{f['max']:>8.1f}"
            f"{a['count']:>7} ({100 * a['share']:5.2f}%)"
            f"{b['count']:>7} ({100 * b['share']:5.2f}%)  {top}"
        )
    return "\n".join(lines)


def make(summary, out_dir) -> list[Path]:
    rows = read_summary(summary)
    stats = study(rows)
    out_dir = Path(out_dir)
    json_path = out_dir / "seed_lottery.json"
    write_text_atomic(
        json_path, json.dumps({"summary": str(summary), "cells": stats}, indent=2) + "\n"
    )
    png = plot(rows, stats, out_dir / "seed_lottery.png")
    print(table(stats))
    return [png, json_path]


PROG = "python -m paper_figs.seed_lottery"
DESCRIPTION = __doc__.split("\n")[0]


def add_arguments(p) -> None:
    """The study's arguments (the same for `counting lottery` and `python -m
    paper_figs.seed_lottery`); sets `func`."""
    p.add_argument("summary", metavar="SUMMARY.csv",
                   help="a GPU sweep's summary.csv (`counting sweep --device cuda`)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="directory to write seed_lottery.png and seed_lottery.json to, "
                   "created if missing")
    declare_paths(p, input_files=("summary",), output_dirs=("out",))
    p.set_defaults(func=run)


def register(sub) -> None:
    """`counting lottery`."""
    p = sub.add_parser("lottery", help="the seed lottery: how rare are runs that count to "
                       "1000, over a GPU sweep's summary", description=DESCRIPTION)
    add_arguments(p)


def build_parser() -> OneLineParser:
    """The parser of `python -m paper_figs.seed_lottery` (the alias of `counting lottery`)."""
    p = OneLineParser(prog=PROG, description=DESCRIPTION)
    add_arguments(p)
    return p


def run(args) -> int:
    for path in make(args.summary, args.out):
        print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """`python -m paper_figs.seed_lottery`, the alias of `counting lottery`: bad input -> one
    line `python -m paper_figs.seed_lottery: error: ...`, exit 2 (`counting.contract.run`)."""
    from counting.contract import run as run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
