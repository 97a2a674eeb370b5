"""Cost of the training options in the engine's epoch, and of their plumbing on the default path.

    python benchmarks/bench_options.py [--data DIR] [--cells lstm] [--repeats 7]

One model's epoch on the paper's 10,000 training words (one thread), timed for:
  before   the online epoch as it was before the options (the old `train_epoch` loop,
           copied here and compiled the same way) - the reference of every ratio;
  default  `counting.engine.train.train_epoch` with default options (what runs today);
  batch 32, clip 1, weight decay 1e-4, L1 1e-4, and all four together.
Variants are interleaved, each repeat starting from the same initial weights, so that the
machine's load hits all of them alike; the table gives the best and the median of the
repeats and both as ratios to `before` (on a loaded machine the median is the steadier).
Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from counting.engine.adam import adam_step  # noqa: E402
from counting.engine.jit import kernel  # noqa: E402
from counting.engine.train import sequence_grad  # noqa: E402


@kernel
def epoch_before(cell, p, m, v, step, lr, loss, toks, offs, order, S, grad):
    """The online epoch before the training options (commit a706bdd's train_epoch)."""
    npar = 24 if cell == 0 else (9 if cell == 1 else 19)
    total = 0.0
    for j in range(order.shape[0]):
        s = order[j]
        start = offs[s]
        value = sequence_grad(cell, 1, p, loss, toks, start, offs[s + 1] - start, S, grad)
        step += 1.0
        adam_step(p, grad, m, v, npar, step, lr)
        if not math.isfinite(value):
            return value, step
        total += value
    return total / max(order.shape[0], 1), step


VARIANTS = {
    "default": {},
    "batch 32": {"batch_size": 32},
    "clip 1": {"clip": 1.0},
    "weight decay 1e-4": {"weight_decay": 1e-4},
    "L1 1e-4": {"l1": 1e-4},
    "all four": {"batch_size": 32, "clip": 1.0, "weight_decay": 1e-4, "l1": 1e-4},
}


def time_cell(cell: str, words: list[str], repeats: int) -> dict[str, list[float]]:
    from counting.engine.layout import CELL_IDS, P_MAX, n_params, pack
    from counting.engine.losses import loss_id
    from counting.engine.train import scratch, train_epoch
    from counting.engine.update import options_vector
    from counting.engine.words import pack_words
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    toks, offs = pack_words(words)
    S, grad = scratch(max(len(w) for w in words))
    acc = np.empty(P_MAX)
    init = np.zeros(P_MAX)
    init[: n_params(cell)] = pack(init_model(cell, 1, 1, "float64"))
    order = shuffle_orders(1, len(words), 1)[0]
    cid, lid = CELL_IDS[cell], loss_id("mse")
    lr = TrainConfig(cell=cell).lr
    opts = {k: options_vector(TrainConfig(cell=cell, **o)) for k, o in VARIANTS.items()}

    def run(name):
        p, m, v = init.copy(), np.zeros(P_MAX), np.zeros(P_MAX)
        t = time.perf_counter()
        if name == "before":
            epoch_before(cid, p, m, v, 0.0, lr, lid, toks, offs, order, S, grad)
        else:
            train_epoch(cid, 1, p, m, v, 0.0, lr, lid, toks, offs, order, S, grad, opts[name], acc)
        return time.perf_counter() - t

    names = ["before", *VARIANTS]
    for name in names:  # compile / load the cache
        run(name)
    times = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            times[name].append(run(name))
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="paper data directory (else generated)")
    ap.add_argument("--cells", default="lstm", help="comma list (default lstm)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repeats (default 7)")
    args = ap.parse_args(argv)
    import numba

    numba.set_num_threads(1)
    from counting.datasets import load_datasets, make_datasets

    if args.data and Path(args.data, "train.txt").is_file():
        words = load_datasets(args.data, ("train",))["train"]
    else:
        words = make_datasets("paper", seed=0, progress=False)["train"]
    load0 = os.getloadavg()[0]
    rows = []
    for cell in args.cells.split(","):
        times = time_cell(cell, words, args.repeats)
        best0, med0 = min(times["before"]), statistics.median(times["before"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append(f"| {cell} | {name} | {min(ts) * 1e3:.1f} | {med * 1e3:.1f} | "
                        f"{min(ts) / best0:.3f} | {med / med0:.3f} |")
    print(f"## Training options: cost per epoch (10,000 words, one thread)\n\n"
          f"`python benchmarks/bench_options.py --repeats {args.repeats}`; load average "
          f"(1 min) {load0:.2f} before, {os.getloadavg()[0]:.2f} after.\n\n"
          "| cell | variant | best ms | median ms | best / before | median / before |\n"
          "|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
