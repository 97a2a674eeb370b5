"""`probes.verify` benchmark: worst case over all Dyck words, against brute force.

Issue 10 targets on a 2-core machine: ReLU at N = 1000 <= 0.05 s; LSTM or GRU at N = 1000
median <= 1 s per model; all 180 stage models of a reproduction at N = 1000 <= 60 s on 2
cores; exact on >= 95 % of them.

    python benchmarks/bench_verify.py --repro /tmp/verify_repro      # ~1-2 min
    python -m counting.cli reproduce --out /tmp/verify_repro           # makes the models

Sections (markdown tables on stdout):
  1. brute force vs verify at N = 20: every Dyck word of length <= 20 (23,713 words) run
     through the torch module in one batch, the shortest failing length read off; verify at
     20 on the same model. Same answer required; time ratio. Models: the constructions and,
     with --repro, the epoch-25 checkpoint of the first run of each cell.
  2. verify at N = 1000 on the constructions (exact counters never fail, so every one of
     the ~125,000 cells is visited: the slowest case); best of --repeats, CPU time of this
     process.
  3. with --repro: every stage model (results/stage_models.csv: cell, run, epoch ->
     sweep/<cell>/run_NN/checkpoints/epoch_EE.pt) verified at N = 1000 on --jobs worker
     processes: the wall time of the whole set, the median / max per model by cell, and the
     number that are exact.
The machine's load average is printed before and after: on a shared machine the numbers
are upper bounds of what verify needs alone. The first run compiles the kernels (~1 min,
once; cached on disk): a warm-up call before timing.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages

TARGETS = {"relu": 0.05, "median": 1.0, "all": 60.0, "exact": 0.95}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _dyck_words(n: int) -> list[str]:
    out = []

    def grow(prefix, depth):
        rest = n - len(prefix)
        if rest == 0:
            out.append(prefix)
            return
        if depth + 1 <= rest - 1:
            grow(prefix + "(", depth + 1)
        if depth > 0:
            grow(prefix + ")", depth - 1)

    grow("", 0)
    return out


def brute_force(model, max_length: int) -> int | None:
    """Shortest failing word length over every Dyck word up to max_length (torch)."""
    import torch

    from counting.dyck import depth_profile, one_hot

    for L in range(2, max_length + 1, 2):
        words = _dyck_words(L)
        with torch.no_grad():
            x = torch.as_tensor(np.stack([one_hot(w) for w in words]), dtype=model.dtype)
            out = model(x).double().numpy()
        depth = np.stack([depth_profile(w) for w in words])
        pred = out > 0.5
        wrong = ~pred[..., 0] | (pred[..., 1] != (depth > 0)) | ~np.isfinite(out).all(-1)
        if wrong.any():
            return L
    return None


def constructions_set() -> list[tuple[str, object]]:
    import torch

    import constructions as C

    return [
        ("exact relu float64", C.exact_counter("relu")),
        ("exact relu float32", C.exact_counter("relu", torch.float32)),
        ("exact lstm float64", C.exact_counter("lstm")),
        ("exact lstm float32", C.exact_counter("lstm", torch.float32)),
        ("mismatched relu 1 / 0.97", C.mismatched_relu(1.0, 0.97)),
        ("leaky lstm 1e-6", C.leaky_counter("lstm", 1e-6)),
        ("leaky gru 1e-4", C.leaky_counter("gru", 1e-4)),
    ]


def stage_paths(repro: Path) -> list[tuple[str, Path]]:
    rows = list(csv.DictReader(open(repro / "results" / "stage_models.csv")))
    return [(r["cell"], repro / "sweep" / r["cell"] / f"run_{int(r['run']):02d}"
             / "checkpoints" / f"epoch_{int(r['epoch']):02d}.pt") for r in rows]


def _worker(item):
    import torch

    torch.set_num_threads(1)
    from counting.checkpoint import load_checkpoint
    from probes import verify

    cell, path = item
    model, _ = load_checkpoint(path)
    t0 = time.perf_counter()
    res = verify(model, 1000)
    return cell, str(path), time.perf_counter() - t0, res


def _warm(_):
    import torch

    torch.set_num_threads(1)
    import constructions
    from probes import verify

    for cell in ("relu", "lstm"):
        verify(constructions.exact_counter(cell), 20)
    verify(constructions.leaky_counter("gru", 0.1), 20)
    return os.getpid()


def section_brute(models) -> list[str]:
    from probes import verify

    lines = ["| model | brute force (s) | verify (s) | shortest failure (brute / verify) | "
             "agree | speed-up |", "|---|---|---|---|---|---|"]
    for name, model in models:
        t0 = time.perf_counter()
        b = brute_force(model, 20)
        tb = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = verify(model, 20)
        tv = time.perf_counter() - t0
        v = res["shortest_failure"]["length"] if res["shortest_failure"] else None
        lines.append(f"| {name} | {tb:.3f} | {tv:.4f} | {b} / {v} | "
                     f"{'yes' if b == v and res['exact'] else 'NO'} | {tb / tv:,.0f}x |")
    return lines


def section_constructions(repeats: int) -> list[str]:
    from probes import verify

    lines = [f"| model | verify N=1000, CPU s (best of {repeats}) | states | certified | "
             "shortest failure | method |", "|---|---|---|---|---|---|"]
    for name, model in constructions_set():
        best = np.inf
        for _ in range(repeats):
            t0 = time.process_time()
            res = verify(model, 1000)
            best = min(best, time.process_time() - t0)
        fail = res["shortest_failure"]
        lines.append(f"| {name} | {best:.4f} | {res['states']:,} | {res['certified_length']} | "
                     f"{fail['length'] if fail else '-'} | {res['method']} |")
    return lines


def section_stage(repro: Path, jobs: int) -> list[str]:
    items = stage_paths(repro)
    ctx = mp.get_context("spawn")
    with ctx.Pool(jobs) as pool:
        pool.map(_warm, range(jobs))  # load the kernels in every worker first
        t0 = time.perf_counter()
        results = pool.map(_worker, items, chunksize=1)
        wall = time.perf_counter() - t0
    lines = ["| cell | models | exact | median s | max s | sum s |", "|---|---|---|---|---|---|"]
    total_exact = 0
    for cell in ("lstm", "relu", "gru"):
        rs = [r for r in results if r[0] == cell]
        ts = [r[2] for r in rs]
        ex = sum(r[3]["exact"] for r in rs)
        total_exact += ex
        lines.append(f"| {cell} | {len(rs)} | {ex} | {np.median(ts):.3f} | {max(ts):.3f} | "
                     f"{sum(ts):.1f} |")
    n = len(results)
    lines.append("")
    lines.append(f"All {n} stage models at N = 1000 on {jobs} worker processes: **{wall:.1f} s** "
                 f"wall (target {TARGETS['all']:.0f} s); exact on {total_exact} / {n} = "
                 f"{100 * total_exact / n:.1f} % (target {100 * TARGETS['exact']:.0f} %).")
    bound = [(r[1], r[3]["certified_length"], r[3]["shortest_failure"]["length"]
              if r[3]["shortest_failure"] else None) for r in results if not r[3]["exact"]]
    for path, cert, fail in bound:
        lines.append(f"- bound: {path}: certified {cert}, shortest failure found {fail}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repro", type=Path, default=None,
                    help="a `counting reproduce` output directory (stage models)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"load average before: {load()}")
    _warm(0)
    models = constructions_set()
    if args.repro:
        from counting.checkpoint import load_checkpoint

        seen = set()
        for cell, path in stage_paths(args.repro):
            if cell not in seen and path.stem == "epoch_25":
                seen.add(cell)
                models.append((f"stage {cell} {path.parent.parent.name} {path.stem}",
                               load_checkpoint(path)[0]))
    print("\n### Brute force over every Dyck word up to 20 tokens vs verify at 20\n")
    print("\n".join(section_brute(models)))
    print("\n### verify at N = 1000, constructions (one process, one thread)\n")
    print("\n".join(section_constructions(args.repeats)))
    if args.repro:
        print(f"\n### Stage models of {args.repro} at N = 1000\n")
        print("\n".join(section_stage(args.repro, args.jobs)))
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
