"""Reproduction benchmark: one warm paper-profile `counting reproduce` against its own sweep.

Issue [scale] target: the reproduction's wall time <= 1.2x the wall time of the protocol
sweep inside it, both measured in the same run.

    python benchmarks/bench_reproduce.py                                 # ~1 min on 2 idle cores
    python benchmarks/bench_reproduce.py --results benchmarks/RESULTS.md  # splice the section

"Warm": a smoke reproduction runs first (untimed), so numba's kernels are compiled and
cached and the modules imported; then the paper reproduction runs in a fresh directory and
`reproduce(..., timings=...)` reports the wall time of each stage:
    data               generating the five sets (and writing them to DIR/data)
    sweep              `run_sweep`: 10 LSTM + 30 ReLU + 10 GRU runs x 30 epochs
    best models        selecting the runs; loading and evaluating the 30 best models
    stage models       loading the 180 stage checkpoints; very-long and zigzag evaluation
    failures           classifying the first failures on the zigzag set
    worst case         probes.verify at N = 1000 of the 30 best and 180 stage models
    tables and report  table1, table2, failure_modes, report.md
    figures (waiting)  waiting for the figure process at the end (the figures are drawn
                       in a second process while the stages above run)
The machine's load average is printed before and after: on a shared machine every stage
is slower, so the ratio (not the seconds) is the number to compare. CPU seconds are printed
too (this process, all threads, per stage; the figure process in total): they depend
little on the load, and bound what a quiet machine would take (see `markdown`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an install

TARGET_RATIO = 1.2
STAGES = ("data", "sweep", "best models", "stage models", "failures", "worst case",
          "tables and report", "figures (waiting)")


def run_once(profile: str, seed: int) -> dict:
    import torch

    from paper_figs.reproduce import reproduce

    torch.set_num_threads(1)  # as the CLI does
    timings: dict = {}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        reproduce(Path(tmp) / "repro", profile, seed, progress=False, timings=timings)
        timings["wall"] = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the figure process, reaped
    timings["figure process cpu"] = (after.ru_utime + after.ru_stime
                                     - children.ru_utime - children.ru_stime)
    return timings


def markdown(env: dict, t: dict) -> str:
    ratio = t["wall"] / t["sweep"]
    outside = t["wall"] - t["sweep"]
    post = ["best models", "stage models", "failures", "worst case", "tables and report",
            "figures (waiting)"]
    main_cpu = sum(t.get(f"{s} cpu", 0.0) for s in ("data", *post))
    work = main_cpu + t["figure process cpu"]
    # On a quiet machine with C cores: the sweep takes at least its CPU time / C, the rest
    # at least max(this process's CPU outside the sweep, all its CPU / C).
    cores = env["cores"]
    sweep_q = t["sweep cpu"] / cores
    rest_q = max(main_cpu, work / cores)
    lines = [
        "## Reproduction (`counting reproduce`, paper profile)",
        "",
        f"`python benchmarks/bench_reproduce.py`, {env['cores']} cores, seed {env['seed']}, "
        f"warm (kernels compiled, modules imported by a smoke run first). Load average (1 min) "
        f"{env['load_before']:.2f} before, {env['load_after']:.2f} after.",
        "",
        "| stage | wall s | share of the sweep | CPU s (this process) |",
        "|---|---|---|---|",
    ]
    for s in STAGES:
        lines.append(f"| {s} | {t.get(s, 0.0):.2f} | {t.get(s, 0.0) / t['sweep']:.1%} | "
                     f"{t.get(f'{s} cpu', 0.0):.2f} |")
    lines += [
        f"| figure process | (in parallel) | | {t['figure process cpu']:.2f} |",
        f"| **whole reproduction** | **{t['wall']:.2f}** | **{ratio:.1%}** | |",
        "",
        f"Wall time / sweep = **{ratio:.2f}x**, measured (target <= {TARGET_RATIO}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'missed'}); {outside:.1f} s outside the sweep. "
        f"From the CPU seconds, a quiet {cores}-core machine would need at least "
        f"{sweep_q:.1f} s for the sweep and {rest_q:.1f} s for the rest: "
        f"~{(sweep_q + rest_q) / sweep_q:.2f}x (an estimate, not a measurement).",
    ]
    return "\n".join(lines) + "\n"


def splice(path: Path, section: str) -> None:
    """Replace (or append) this benchmark's section of a markdown file."""
    from counting.fileformat import write_text_atomic

    text = path.read_text() if path.is_file() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Reproduction \(.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="reproduction seed (default 0)")
    ap.add_argument("--profile", default="paper", choices=("paper", "smoke"))
    ap.add_argument("--results", default=None, help="splice the section into this .md file")
    ap.add_argument("--json", default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    run_once("smoke", args.seed)  # warm-up: compile/load kernels, import modules
    env = {"cores": os.cpu_count(), "seed": args.seed, "load_before": os.getloadavg()[0]}
    t = run_once(args.profile, args.seed)
    env["load_after"] = os.getloadavg()[0]
    print(json.dumps({"env": env, "timings": t}))
    md = markdown(env, t)
    print()
    print(md)
    if args.results:
        splice(Path(args.results), md)
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "timings": t}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
