"""A/B of two checkouts of the engine, in alternation: per model-epoch parts (the online epoch,
evaluations of the train, validation and long sets) of `FastBackend` on one thread.

    python benchmarks/bench_ab.py --old /work/main --new . --cells lstm,relu,gru --hidden 8,4

Each checkout runs in its own worker process (this file with --worker TREE), which imports
`counting` from TREE; the parent asks both for the same part in turn (alternating which goes
first), so that a change of load hits both alike, and prints the minimum CPU time of each
part over --rounds and the speed-up old / new of the sum (drv). Paper data, generated once
(not timed). Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARTS = ("epoch", "train", "validation", "long")


def worker(tree: str, data: str) -> None:
    sys.path.insert(0, tree)
    import counting

    assert str(Path(counting.__file__).resolve()).startswith(str(Path(tree).resolve()))
    from counting.engine import FastBackend
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    sets = pickle.loads(Path(data).read_bytes())
    orders = shuffle_orders(1, len(sets["train"]), 2)
    backends = {}
    print("ready", flush=True)
    for line in sys.stdin:
        cell, hidden, part = line.split()
        key = (cell, int(hidden))
        if key not in backends:
            cfg = TrainConfig(cell=cell, seed=1, hidden_size=key[1])
            fb = FastBackend(init_model(cell, key[1], 1, "float64"), sets["train"], cfg)
            fb.train_epoch(orders[0][:10])  # compile / load the cache
            for k in PARTS[1:]:
                fb.evaluate(sets[k])
            backends[key] = fb
        fb = backends[key]
        t = time.process_time()
        if part == "epoch":
            fb.train_epoch(orders[1])
        else:
            fb.evaluate(sets[part])
        print(time.process_time() - t, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="checkout with the old engine")
    ap.add_argument("--new", default=".", help="checkout with the new engine (default .)")
    ap.add_argument("--cells", default="lstm,relu,gru")
    ap.add_argument("--hidden", default="8,4,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data)
        return 0
    sys.path.insert(0, str(Path(args.new).resolve()))
    from counting.datasets import make_datasets

    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        data = Path(tmp, "sets.pkl")
        data.write_bytes(pickle.dumps(make_datasets("paper", seed=0, progress=False)))
        trees = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
        procs = {
            k: subprocess.Popen(
                [sys.executable, __file__, "--old", "-", "--worker", v, "--data", str(data)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=tmp,
            )
            for k, v in trees.items()
        }
        for p in procs.values():
            assert p.stdout.readline().strip() == "ready"

        def ask(k, cell, hidden, part):
            procs[k].stdin.write(f"{cell} {hidden} {part}\n")
            procs[k].stdin.flush()
            return float(procs[k].stdout.readline())

        print("load average before", os.getloadavg())
        for cell in args.cells.split(","):
            for hidden in (int(h) for h in args.hidden.split(",")):
                res = {k: {p: [] for p in PARTS} for k in trees}
                for r in range(args.rounds):
                    for part in PARTS:
                        for k in ("old", "new") if r % 2 == 0 else ("new", "old"):
                            res[k][part].append(ask(k, cell, hidden, part))
                m = {k: {p: min(v) for p, v in res[k].items()} for k in trees}
                tot = {k: sum(m[k].values()) for k in trees}
                parts = " ".join(
                    f"{p} {1e3 * m['old'][p]:.1f}->{1e3 * m['new'][p]:.1f}" for p in PARTS
                )
                print(
                    f"{cell} H={hidden}: {parts} | drv {1e3 * tot['old']:.1f} -> "
                    f"{1e3 * tot['new']:.1f} ms, x{tot['old'] / tot['new']:.2f}",
                    flush=True,
                )
        print("load average after", os.getloadavg())
        for p in procs.values():
            p.stdin.close()
            p.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
