"""Long words: evaluating, tracing and diagnosing ONE word of 10^6 tokens.

Issue 13's targets: each <= 5 s and peak memory <= 500 MB.

    python benchmarks/bench_long_words.py                    # ~2 min on 2 cores
    python benchmarks/bench_long_words.py --tokens 2000000 --cells lstm

The word is a uniformly random Dyck-1 word (`counting.generators.uniform_word`, seed 0); the
model of each cell is PyTorch's default init (seed 0, hidden size 1, float64) - the cost does
not depend on the weights. Every measurement runs in a fresh interpreter, after a warm-up on
a short word (numba's kernels are cached on disk; imports and the one-time checks of
`counting.unrolled` are then excluded from the library times), and reports:

- library: the wall time of `counting.metrics.evaluate(model, [word])`,
  `probes.trace(model, word)`, `probes.diagnose(model, {"word": [word]})` (no plots) and the
  process's peak RSS (interpreter, torch, numba and all) over that call; then, in a second
  call with tracemalloc on (its bookkeeping would inflate both), the peak of Python-level
  allocations (numpy and torch buffers included);
- CLI: the wall time and peak RSS of `python -m counting.cli eval CKPT --data DIR` and
  `diagnose CKPT --data DIR` on a data directory whose very_long.txt holds the word -
  everything included (start-up, imports, reading and checking the file);
- reference: what `counting eval` did before (the torch module over the whole word),
  timed on a --reference-tokens prefix and scaled by tokens; the speed-up is its time over
  the library's evaluate time, both measured in this run.

The load average is printed before and after: on a shared machine the times are upper
bounds of what the code does alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS = ("lstm", "relu", "gru")
TARGET_S, TARGET_MB = 5.0, 500.0
ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np, torch
torch.set_num_threads(1)
from counting.generators import uniform_word
from counting.models import init_model
op, cell, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = init_model(cell, 1, 0, "float64")
word = uniform_word(np.random.default_rng(0), n)
if op == "evaluate":
    from counting.metrics import evaluate
    run = lambda w: evaluate(model, [w])
elif op == "trace":
    import probes
    run = lambda w: probes.trace(model, w)
elif op == "diagnose":
    import probes
    run = lambda w: probes.diagnose(model, {"word": [w]})
elif op == "reference":
    from counting.models import pad_batch
    def run(w):
        x, _ = pad_batch([w], model.dtype)
        with torch.no_grad():
            model(x)
run(uniform_word(np.random.default_rng(1), 30_000))  # warm-up: every path, one-time checks
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
run(word)  # time and peak RSS without tracemalloc (its bookkeeping costs memory and time)
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
run(word)  # again, for the peak of Python-level allocations
peak = tracemalloc.get_traced_memory()[1] / 2**20
tracemalloc.stop()
print(json.dumps({"seconds": seconds, "peak_mb": peak, "rss_mb": rss, "base_rss_mb": base}))
"""


def _child(op: str, cell: str, n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", CHILD, op, cell, str(n)], capture_output=True,
                       text=True, env=env, cwd=ROOT, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def _cli(argv: list[str]) -> dict:
    """Wall time and peak RSS of one CLI command in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "counting.cli", *argv], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"counting {argv[0]} failed: {err}")
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024}


def _load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--reference-tokens", type=int, default=50_000,
                    help="prefix on which the torch module is timed (scaled by tokens)")
    args = ap.parse_args()
    cells = [c for c in args.cells.split(",") if c]
    n = args.tokens
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from counting.checkpoint import save_checkpoint
    from counting.fileformat import write_sequences
    from counting.generators import uniform_word
    from counting.models import init_model

    print(f"load average before: {_load()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        data = Path(tmp) / "data"
        write_sequences(data / "very_long.txt", [uniform_word(np.random.default_rng(0), n)])
        for cell in cells:
            ckpt = Path(tmp) / f"{cell}.pt"
            save_checkpoint(init_model(cell, 1, 0, "float64"), ckpt)
            ref = _child("reference", cell, args.reference_tokens)
            ref_s = ref["seconds"] * n / args.reference_tokens
            lib = {op: _child(op, cell, n) for op in ("evaluate", "trace", "diagnose")}
            cli = {op: _cli([op, str(ckpt), "--data", str(data)]) for op in ("eval", "diagnose")}
            rows.append((cell, ref_s, lib, cli))
    print(f"load average after: {_load()}\n")
    print(f"One word of {n:,} tokens, hidden size 1, float64. Library: time of the call after "
          "a warm-up; work = peak of Python allocations during it (tracemalloc); RSS = the "
          "process's peak resident memory (interpreter and libraries included). CLI: the "
          "whole command in a fresh interpreter. Targets: <= 5 s, <= 500 MB.\n")
    print("| cell | what | time s | work MB | peak RSS MB | met |")
    print("|---|---|---|---|---|---|")
    for cell, ref_s, lib, cli in rows:
        for op, m in lib.items():
            met = m["seconds"] <= TARGET_S and m["rss_mb"] <= TARGET_MB
            print(f"| {cell} | `{op}` (library) | {m['seconds']:.2f} | {m['peak_mb']:.0f} | "
                  f"{m['rss_mb']:.0f} (base {m['base_rss_mb']:.0f}) | {'yes' if met else 'no'} |")
        for op, m in cli.items():
            met = m["seconds"] <= TARGET_S and m["rss_mb"] <= TARGET_MB
            print(f"| {cell} | `counting {op}` (CLI, all included) | {m['seconds']:.2f} | - | "
                  f"{m['rss_mb']:.0f} | {'yes' if met else 'no'} |")
        speedup = ref_s / lib["evaluate"]["seconds"]
        print(f"| {cell} | reference: torch module over the word (before) | {ref_s:.1f} "
              f"(scaled from {args.reference_tokens:,}) | - | - | evaluate {speedup:.0f}x "
              "faster |")


if __name__ == "__main__":
    main()
