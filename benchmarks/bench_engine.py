"""CPU engine benchmark: torch reference vs the numba engine, and the full paper protocol.

Issue [engine] targets on a 2-core machine: >= 200x per model-epoch for every cell; LSTM
<= 50 ms, GRU <= 35 ms, ReLU <= 15 ms per model-epoch including validation; the full paper
protocol (50 runs x 30 epochs with validation every epoch, plus evaluating the checkpoints
on long, very long and zigzag) <= 20 s.

    python benchmarks/bench_engine.py --data /tmp/paper_data            # ~2 min
    python benchmarks/bench_engine.py --data DIR --results benchmarks/RESULTS.md

A "model-epoch" is one epoch of online training on the 10,000 training words plus the
driver's evaluations after it. Two variants are reported: "train+val" (training and the
validation set) and "driver" (what `counting train` and the sweep do every epoch: training,
then the train, validation and long sets). Timings (best of --repeats):
  1. reference: `ReferenceBackend` with torch on one thread (torch.set_num_threads(1));
     training is timed on --ref-words words and scaled to the whole set by token count,
     the evaluations (batched torch) on the whole sets;
  2. fast, one model on one thread: `FastBackend` (what `counting train` runs);
  3. fast, many models: 8 models of the cell in one `ModelBank`, all threads, wall time / 8
     (what a sweep achieves per model-epoch on this machine);
  4. protocol: `run_sweep` over the paper data (10 LSTM, 30 ReLU, 10 GRU runs, 30 epochs,
     all files written), then `evaluate_many` of every checkpoint (6 epochs + best) of
     every run on long, very long and zigzag; wall time of each part and in total.
The machine's load average is printed before and after: on a shared machine the numbers
are lower bounds of what the engine does alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import numpy as np

CELLS = ("lstm", "relu", "gru")
TARGET_MS = {"lstm": 50.0, "gru": 35.0, "relu": 15.0}
TARGET_RATIO = 200.0
TARGET_PROTOCOL_S = 20.0
DRIVER_SETS = ("train", "validation", "long")


def environment() -> dict:
    import numba
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "numba": numba.__version__, "numpy": np.__version__,
            "numba_threads": numba.config.NUMBA_NUM_THREADS,
            "load_before": os.getloadavg()}


def load_sets(data: str | None) -> dict:
    from counting.datasets import SET_NAMES, load_datasets, make_datasets

    if data and Path(data, "train.txt").is_file():
        return load_datasets(data, SET_NAMES)
    print("generating the paper data (not timed) ...")
    return make_datasets("paper", seed=0, progress=False)


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def reference_times(cell: str, sets: dict, ref_words: int, repeats: int) -> dict:
    import torch

    from counting.models import init_model
    from counting.training import ReferenceBackend, TrainConfig, shuffle_orders

    torch.set_num_threads(1)
    train = sets["train"]
    cfg = TrainConfig(cell=cell, seed=1)
    rb = ReferenceBackend(init_model(cell, 1, 1, "float64"), train, cfg)
    order = shuffle_orders(1, len(train), 1)[0][:ref_words]
    sub_tokens = sum(len(train[k]) for k in order)
    all_tokens = sum(len(w) for w in train)
    t_sub = best(lambda: rb.train_epoch(order), 1)
    ev = {k: best(lambda k=k: rb.evaluate(sets[k]), repeats) for k in DRIVER_SETS}
    train_s = t_sub * all_tokens / sub_tokens
    return {"train": train_s, "eval": ev, "train+val": train_s + ev["validation"],
            "driver": train_s + sum(ev.values())}


def fast_single_times(cell: str, sets: dict, repeats: int) -> dict:
    from counting.engine import FastBackend
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    train = sets["train"]
    fb = FastBackend(init_model(cell, 1, 1, "float64"), train, TrainConfig(cell=cell, seed=1))
    orders = shuffle_orders(1, len(train), repeats + 1)
    fb.train_epoch(orders[0])  # compile / load the cache
    for k in DRIVER_SETS:
        fb.evaluate(sets[k])
    it = iter(orders[1:])
    train_s = best(lambda: fb.train_epoch(next(it)), repeats)
    ev = {k: best(lambda k=k: fb.evaluate(sets[k]), repeats) for k in DRIVER_SETS}
    return {"train": train_s, "eval": ev, "train+val": train_s + ev["validation"],
            "driver": train_s + sum(ev.values())}


def fast_many_times(cell: str, sets: dict, repeats: int, models: int = 8) -> dict:
    from counting.engine.many import JointSet, ModelBank, packed_train
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    n = len(sets["train"])
    train = packed_train(sets["train"])
    lr = TrainConfig(cell=cell).lr
    out = {}
    for name, keys in (("train+val", ("validation",)), ("driver", DRIVER_SETS)):
        bank = ModelBank([init_model(cell, 1, s, "float64") for s in range(models)],
                         [lr] * models, 0)
        joint = JointSet({k: sets[k] for k in keys})
        orders = [np.stack([shuffle_orders(s, n, repeats + 1)[e] for s in range(models)])
                  for e in range(repeats + 1)]
        bank.epoch(range(models), train, orders[0], joint)
        it = iter(orders[1:])
        out[name] = best(lambda b=bank, i=it, j=joint: b.epoch(range(models), train, next(i), j),
                         repeats) / models
    return out


def protocol(sets: dict, out_dir: Path) -> dict:
    from counting.checkpoint import load_checkpoint
    from counting.engine import evaluate_many
    from counting.sweep import run_sweep

    t0 = time.perf_counter()
    rows = run_sweep({k: sets[k] for k in DRIVER_SETS}, out_dir, epochs=30, progress=False)
    t1 = time.perf_counter()
    models = []
    for r in rows:
        d = Path(r["dir"])
        for p in sorted((d / "checkpoints").glob("epoch_*.pt")) + [d / "best.pt"]:
            if p.is_file():
                models.append(load_checkpoint(p)[0].double())
    t2 = time.perf_counter()
    for k in ("long", "very_long", "zigzag"):
        evaluate_many(models, sets[k])
    t3 = time.perf_counter()
    return {"runs": len(rows), "diverged": sum(bool(r["diverged"]) for r in rows),
            "checkpoints": len(models), "sweep_s": t1 - t0, "load_s": t2 - t1,
            "eval_s": t3 - t2, "total_s": t3 - t0}


def markdown(env: dict, res: dict) -> str:
    lines = [
        "## CPU engine",
        "",
        f"`python benchmarks/bench_engine.py` on {env['cpu']}, {env['cores']} cores; "
        f"python {env['python']}, torch {env['torch']}, numba {env['numba']} "
        f"({env['numba_threads']} threads, workqueue layer), numpy {env['numpy']}. "
        f"Paper data (10,000 train / 5,000 validation / 5,000 long words). Load average "
        f"(1 min) {env['load_before'][0]:.2f} before, {env['load_after'][0]:.2f} after "
        "(the machine is shared with other jobs; a quiet machine would likely be faster). "
        "The first use of the engine compiles its kernels (about 25 s here, once; cached on "
        "disk) - not included below.",
        "",
        "Per model-epoch, ms. *t+v* = the online epoch + the validation set; *drv* = the "
        "online epoch + the train, validation and long sets (what `counting train` and the "
        "sweep do every epoch). Reference: torch on one thread (`torch.set_num_threads(1)`), "
        f"training timed on {res['ref_words']} words and scaled by tokens. Fast, 1 thread: "
        "`FastBackend` (`counting train`). Fast, many: 8 models at once on all threads, "
        "wall time / 8 (what a sweep gets per model-epoch).",
        "",
        "| cell | reference t+v / drv | fast 1 thread t+v / drv | fast many t+v / drv "
        "| ratio drv (1 thread / many) | target (t+v) | met |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for cell in CELLS:
        r, f, m = res["reference"][cell], res["fast_single"][cell], res["fast_many"][cell]
        ratio1, ratio_m = r["driver"] / f["driver"], r["driver"] / m["driver"]
        met = ratio1 >= TARGET_RATIO and f["train+val"] * 1e3 <= TARGET_MS[cell]
        lines.append(
            f"| {cell} | {r['train+val']:,.1f} s / {r['driver']:,.1f} s "
            f"| {f['train+val'] * 1e3:.1f} / {f['driver'] * 1e3:.1f} "
            f"| {m['train+val'] * 1e3:.1f} / {m['driver'] * 1e3:.1f} "
            f"| {ratio1:,.0f}x / {ratio_m:,.0f}x | {TARGET_MS[cell]:.0f} ms "
            f"| {'yes' if met else 'no'} |")
        if f["driver"] * 1e3 > TARGET_MS[cell]:
            notes.append(f"{cell} on one thread with the train and long sets evaluated every "
                         f"epoch takes {f['driver'] * 1e3:.1f} ms, above {TARGET_MS[cell]:.0f}")
    if notes:
        lines += ["", "Above a target: " + "; ".join(notes) + "."]
    p = res.get("protocol")
    if p:
        lines += [
            "",
            f"Full paper protocol ({p['runs']} runs x 30 epochs, train/validation/long "
            f"evaluated every epoch, all run files written; then {p['checkpoints']} "
            "checkpoints evaluated on long, very long and zigzag with `evaluate_many`): "
            f"sweep {p['sweep_s']:.1f} s + loading checkpoints {p['load_s']:.1f} s + "
            f"evaluating them {p['eval_s']:.1f} s = **{p['total_s']:.1f} s** "
            f"(target {TARGET_PROTOCOL_S:.0f} s: "
            f"{'met' if p['total_s'] <= TARGET_PROTOCOL_S else 'missed'}); "
            f"{p['diverged']} runs diverged.",
        ]
    return "\n".join(lines) + "\n"


def splice(path: Path, section: str) -> None:
    """Replace (or append) the `## CPU engine` section of a markdown file."""
    from counting.fileformat import write_text_atomic

    text = path.read_text() if path.is_file() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## CPU engine\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="paper data directory (else generated)")
    ap.add_argument("--ref-words", type=int, default=1000,
                    help="training words timed for the reference (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--skip-protocol", action="store_true", help="skip the full protocol")
    ap.add_argument("--results", default=None, help="splice the section into this .md file")
    ap.add_argument("--json", default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    env = environment()
    print(json.dumps(env))
    sets = load_sets(args.data)
    res = {"ref_words": args.ref_words, "reference": {}, "fast_single": {}, "fast_many": {}}
    for cell in CELLS:
        res["fast_single"][cell] = fast_single_times(cell, sets, args.repeats)
        res["fast_many"][cell] = fast_many_times(cell, sets, args.repeats)
        res["reference"][cell] = reference_times(cell, sets, args.ref_words, args.repeats)
        print(cell, json.dumps({k: res[k][cell] for k in ("reference", "fast_single",
                                                          "fast_many")}))
    if not args.skip_protocol:
        with tempfile.TemporaryDirectory() as tmp:
            res["protocol"] = protocol(sets, Path(tmp) / "sweep")
        print("protocol", json.dumps(res["protocol"]))
    env["load_after"] = os.getloadavg()
    md = markdown(env, res)
    print()
    print(md)
    if args.results:
        splice(Path(args.results), md)
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, **res}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
