"""Multi-cell engine benchmark: per model-epoch at hidden sizes 1, 2, 4, 8, the torch reference
and the numba engine in the same run, and where the time goes at H = 8.

Issue [multicell] targets: fast >= 200x the reference at every H (per model-epoch); an H = 4
LSTM costs <= 4x the H = 1 LSTM; say where the time goes at H = 8.

    python benchmarks/bench_multicell.py --data /tmp/paper_data            # ~5 min
    python benchmarks/bench_multicell.py --data DIR --results benchmarks/RESULTS.md

A "model-epoch" is one online epoch on the 10,000 training words plus the driver's
evaluations after it, as in bench_engine.py: "t+v" = the epoch + the validation set, "drv" =
the epoch + the train, validation and long sets (what `counting train` and the sweep do).
  1. reference: `ReferenceBackend` on one torch thread; training timed on chunks of
     --ref-words / --repeats words and scaled by tokens, evaluations (batched torch) on the
     whole sets;
  2. fast, one model on one thread: `FastBackend` (what `counting train` runs), timed in
     alternation with the reference (a change of load hits both alike);
  3. fast, many: 8 models of the cell in one `ModelBank`, all threads, wall time / 8 (what
     a sweep gets per model-epoch).
Profile (one thread, H = 8 by default): the training kernel's four passes timed
cumulatively over an epoch's words (forward recurrence; + readout; + backward recurrence;
+ weight gradients = the whole gradient), then Adam (the epoch minus the gradients), then
the evaluations. Times are best of --repeats: CPU time of this process for everything on
one thread (reference, fast 1 thread, profile: a loaded machine disturbs it far less than
wall time), wall time for the many-model runs. The load average is printed before and
after (on a shared machine the many-model numbers are lower bounds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import DRIVER_SETS, environment, load_sets  # noqa: E402

from counting.engine import gru_h, lstm_h, relu_h  # noqa: E402
from counting.engine.multicell import readout_pass, setup, trajectory, weight_pass  # noqa: E402

CELLS = ("lstm", "relu", "gru")
SIZES = (1, 2, 4, 8)
TARGET_RATIO = 200.0
TARGET_H4 = 4.0
SECTION = "## Multi-cell engine (hidden sizes 1-8)"


def best(fn, repeats: int, clock=time.process_time) -> float:
    """Shortest of `repeats` runs of fn(), by `clock` (default: this process's CPU time, which
    a loaded machine disturbs far less than wall time; right for one-thread work only)."""
    times = []
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


def single_thread_times(cell: str, H: int, sets: dict, ref_words: int,
                        repeats: int) -> tuple[dict, dict]:
    """(reference, fast) seconds per model-epoch on one thread, measured in alternation (each
    round: the fast epoch and evaluations, then a reference chunk of ref_words / repeats
    training words and its evaluations), so that a change of load hits both alike; minimum
    over the rounds, reference training scaled from its fastest chunk by tokens."""
    import torch

    from counting.engine import FastBackend
    from counting.models import init_model
    from counting.training import ReferenceBackend, TrainConfig, shuffle_orders

    torch.set_num_threads(1)
    train = sets["train"]
    cfg = TrainConfig(cell=cell, seed=1, hidden_size=H)
    fb = FastBackend(init_model(cell, H, 1, "float64"), train, cfg)
    rb = ReferenceBackend(init_model(cell, H, 1, "float64"), train, cfg)
    orders = shuffle_orders(1, len(train), repeats + 1)
    fb.train_epoch(orders[0])  # compile / load the cache
    rb.train_epoch(orders[0][:20])  # warm-up: torch's first calls are slow (and scaled up)
    for k in DRIVER_SETS:
        fb.evaluate(sets[k])
    chunk = max(ref_words // repeats, 1)
    all_tokens = sum(len(w) for w in train)
    fast = {"epoch": [], **{k: [] for k in DRIVER_SETS}}
    ref = {"epoch": [], **{k: [] for k in DRIVER_SETS}}
    for r in range(repeats):
        fast["epoch"].append(best(lambda r=r: fb.train_epoch(orders[r + 1]), 1))
        for k in DRIVER_SETS:
            fast[k].append(best(lambda k=k: fb.evaluate(sets[k]), 1))
        words = orders[0][20 + r * chunk: 20 + (r + 1) * chunk]
        scale = all_tokens / sum(len(train[j]) for j in words)
        ref["epoch"].append(best(lambda w=words: rb.train_epoch(w), 1) * scale)
        for k in DRIVER_SETS:
            ref[k].append(best(lambda k=k: rb.evaluate(sets[k]), 1))
    out = []
    for d in (ref, fast):
        t = min(d["epoch"])
        ev = {k: min(d[k]) for k in DRIVER_SETS}
        out.append({"train": t, "eval": ev, "train+val": t + ev["validation"],
                    "driver": t + sum(ev.values())})
    return out[0], out[1]


def fast_many_times(cell: str, H: int, sets: dict, repeats: int, models: int = 8) -> dict:
    from counting.engine.many import JointSet, ModelBank, packed_train
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    n = len(sets["train"])
    train = packed_train(sets["train"])
    lr = TrainConfig(cell=cell).lr
    out = {}
    for name, keys in (("train+val", ("validation",)), ("driver", DRIVER_SETS)):
        bank = ModelBank([init_model(cell, H, s, "float64") for s in range(models)],
                         [lr] * models, 0)
        joint = JointSet({k: sets[k] for k in keys})
        orders = [np.stack([shuffle_orders(s, n, repeats + 1)[e] for s in range(models)])
                  for e in range(repeats + 1)]
        bank.epoch(range(models), train, orders[0], joint)
        it = iter(orders[1:])
        out[name] = best(lambda b=bank, i=it, j=joint: b.epoch(range(models), train, next(i), j),
                         repeats, time.perf_counter) / models
    return out


# --- profile: the passes of one word's kernel, cumulatively (upto = 1..4) -------------------

@njit(error_model="numpy")
def _lstm_passes(upto, p, loss, toks, offs, order, S, H):
    R = 4 * H
    total = 0.0
    for j in range(order.shape[0]):
        start = offs[order[j]]
        T = offs[order[j] + 1] - start
        WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, rest = setup(p, S, 4, H, R)
        Hs, rest = trajectory(rest, T, H)
        Cs, rest = trajectory(rest, T, H)
        TC, rest = trajectory(rest, T, H)
        DHR, rest = trajectory(rest, T, H)
        Gs, rest = trajectory(rest, T, R)
        Ds, rest = trajectory(rest, T, R)
        lstm_h.forward(WT, A0, A, Hs, Cs, TC, Gs, toks, start, T, H)
        if upto >= 2:
            total += readout_pass(p, 4, H, Hs, DHR, gWo, toks, start, T, loss)[0]
        if upto >= 3:
            lstm_h.backward(WT, dH, dC, Cs, TC, Gs, DHR, Ds, T, H)
        if upto >= 4:
            weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Ds, Ds, R, H)
        total += Hs[T, 0]
    return total


@njit(error_model="numpy")
def _relu_passes(upto, p, loss, toks, offs, order, S, H):
    total = 0.0
    for j in range(order.shape[0]):
        start = offs[order[j]]
        T = offs[order[j] + 1] - start
        WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, rest = setup(p, S, 1, H, H)
        Hs, rest = trajectory(rest, T, H)
        DHR, rest = trajectory(rest, T, H)
        Ds, rest = trajectory(rest, T, H)
        relu_h.forward(WT, A0, A, Hs, toks, start, T, H)
        if upto >= 2:
            total += readout_pass(p, 1, H, Hs, DHR, gWo, toks, start, T, loss)[0]
        if upto >= 3:
            relu_h.backward(WT, dH, Hs, DHR, Ds, T, H)
        if upto >= 4:
            weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Ds, Ds, H, H)
        total += Hs[T, 0]
    return total


@njit(error_model="numpy")
def _gru_passes(upto, p, loss, toks, offs, order, S, H):
    R = 3 * H
    total = 0.0
    for j in range(order.shape[0]):
        start = offs[order[j]]
        T = offs[order[j] + 1] - start
        WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, rest = setup(p, S, 3, H, 2 * H)
        Hs, rest = trajectory(rest, T, H)
        HN, rest = trajectory(rest, T, H)
        DHR, rest = trajectory(rest, T, H)
        Gs, rest = trajectory(rest, T, R)
        Dih, rest = trajectory(rest, T, R)
        Dhh, rest = trajectory(rest, T, R)
        gru_h.forward(WT, X, A0, A, Hs, HN, Gs, toks, start, T, H)
        if upto >= 2:
            total += readout_pass(p, 3, H, Hs, DHR, gWo, toks, start, T, loss)[0]
        if upto >= 3:
            gru_h.backward(WT, dH, Hs, HN, Gs, DHR, Dih, Dhh, T, H)
        if upto >= 4:
            weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Dih, Dhh, R, H)
        total += Hs[T, 0]
    return total


PASSES = {"lstm": _lstm_passes, "relu": _relu_passes, "gru": _gru_passes}
PASS_NAMES = ("setup (W_hh transposed) + forward recurrence",
              "readout (outputs, losses, dL/dW_out)", "backward recurrence",
              "weight gradients (dL/dW_hh, W_ih, biases)")


def profile(cell: str, H: int, sets: dict, repeats: int) -> dict:
    """Seconds per model-epoch (one thread) of each part of the work."""
    from counting.engine import FastBackend
    from counting.engine.train import scratch
    from counting.engine.words import pack_words
    from counting.models import init_model
    from counting.training import TrainConfig, shuffle_orders

    train = sets["train"]
    fb = FastBackend(init_model(cell, H, 1, "float64"), train,
                     TrainConfig(cell=cell, seed=1, hidden_size=H))
    toks, offs = pack_words(train)
    order = shuffle_orders(1, len(train), 1)[0]
    S, _ = scratch(max(len(w) for w in train), cell, H)
    p = fb.params.copy()
    fn = PASSES[cell]
    runs = [lambda u=upto: fn(u, p, 0, toks, offs, order, S, H) for upto in range(1, 5)]
    runs.append(lambda: fb.train_epoch(order))
    for run in runs:
        run()  # compile
    times = [[] for _ in runs]
    for _ in range(2 * repeats):  # round robin, so that a load change hits every part alike
        for run, t in zip(runs, times, strict=True):
            t.append(best(run, 1))
    cumulative = [min(t) for t in times]
    out = {name: cumulative[i] - (cumulative[i - 1] if i else 0.0)
           for i, name in enumerate(PASS_NAMES)}
    out["Adam (the epoch minus the gradients)"] = cumulative[4] - cumulative[3]
    for k in DRIVER_SETS:
        fb.evaluate(sets[k])
        out[f"evaluation: {k} set"] = best(lambda k=k: fb.evaluate(sets[k]), repeats)
    return out


def markdown(env: dict, res: dict) -> str:
    lines = [
        SECTION,
        "",
        f"`python benchmarks/bench_multicell.py` on {env['cpu']}, {env['cores']} cores; "
        f"python {env['python']}, torch {env['torch']}, numba {env['numba']} "
        f"({env['numba_threads']} threads), numpy {env['numpy']}. Paper data. Load average "
        f"(1 min) {env['load_before'][0]:.2f} before, {env['load_after'][0]:.2f} after "
        "(shared machine). One-thread times are this process's CPU time, many-model times wall "
        "time / 8. Compilation (once, cached on disk) not included.",
        "",
        "Per model-epoch. *t+v* = the online epoch + the validation set; *drv* = the epoch + "
        "the train, validation and long sets. Reference: torch on one thread, training timed "
        f"on chunks of {res['ref_words']} words in all and scaled by tokens, in alternation "
        "with the fast one. Fast 1 thread: `FastBackend`; "
        "fast many: 8 models in one `ModelBank` on all threads, wall time / 8. Ratios: "
        "reference / fast (drv). x H=1: the fast cost over the same cell's H = 1 cost.",
        "",
        "| cell | H | reference t+v / drv (s) | fast 1 thread t+v / drv (ms) "
        "| fast many t+v / drv (ms) | ratio 1 thread / many | x H=1 (1 thread t+v / drv) "
        "| >= 200x |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell in res["cells"]:
        for H in res["sizes"]:
            key = f"{cell}-{H}"
            r, f, m = res["reference"][key], res["fast_single"][key], res["fast_many"][key]
            base = res["fast_single"].get(f"{cell}-1")
            rel = (f"{f['train+val'] / base['train+val']:.2f} / "
                   f"{f['driver'] / base['driver']:.2f}" if base else "-")
            ratio1 = r["driver"] / f["driver"]
            lines.append(
                f"| {cell} | {H} | {r['train+val']:,.1f} / {r['driver']:,.1f} "
                f"| {f['train+val'] * 1e3:.1f} / {f['driver'] * 1e3:.1f} "
                f"| {m['train+val'] * 1e3:.1f} / {m['driver'] * 1e3:.1f} "
                f"| {ratio1:,.0f}x / {r['driver'] / m['driver']:,.0f}x | {rel} "
                f"| {'yes' if ratio1 >= TARGET_RATIO else 'no'} |")
    met, missed = [], []
    for cell in res["cells"]:
        for H in res["sizes"]:
            key = f"{cell}-{H}"
            ratio = res["reference"][key]["driver"] / res["fast_single"][key]["driver"]
            (met if ratio >= TARGET_RATIO else missed).append(f"{cell} H={H} ({ratio:,.0f}x)")
    lines += ["", f"Fast >= {TARGET_RATIO:.0f}x the reference (1 thread, drv): met for "
              f"{', '.join(met) or 'none'}; missed for {', '.join(missed) or 'none'}."]
    if "lstm-4" in res["fast_single"] and "lstm-1" in res["fast_single"]:
        f4, f1 = res["fast_single"]["lstm-4"], res["fast_single"]["lstm-1"]
        m4, m1 = res["fast_many"]["lstm-4"], res["fast_many"]["lstm-1"]
        x = [f4["train+val"] / f1["train+val"], f4["driver"] / f1["driver"],
             m4["train+val"] / m1["train+val"], m4["driver"] / m1["driver"]]
        lines += ["", f"H = 4 LSTM over H = 1 LSTM (target <= {TARGET_H4:.0f}x): 1 thread "
                  f"{x[0]:.2f}x (t+v) / {x[1]:.2f}x (drv); many {x[2]:.2f}x / {x[3]:.2f}x: "
                  f"{'met' if max(x) <= TARGET_H4 else 'missed'}."]
    for cell, prof in res.get("profile", {}).items():
        total = sum(prof.values())
        lines += ["", f"Where the time goes, {cell} H = {res['profile_h']} on one thread "
                  f"(one model-epoch, drv: {total * 1e3:.1f} ms):", "",
                  "| part | ms | share |", "|---|---|---|"]
        for name, sec in prof.items():
            lines.append(f"| {name} | {sec * 1e3:.1f} | {100 * sec / total:.0f}% |")
    return "\n".join(lines) + "\n"


def splice(path: Path, section: str) -> None:
    """Replace (or append) this benchmark's section of a markdown file."""
    from counting.fileformat import write_text_atomic

    text = path.read_text() if path.is_file() else "# Benchmarks\n\n"
    pattern = re.compile("^" + re.escape(SECTION) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="paper data directory (else generated)")
    ap.add_argument("--cells", default=",".join(CELLS), help="cells (default all three)")
    ap.add_argument("--hidden", default=",".join(map(str, SIZES)),
                    help="hidden sizes (default 1,2,4,8)")
    ap.add_argument("--ref-words", type=int, default=600,
                    help="training words timed for the reference, in --repeats chunks "
                    "(default 600)")
    ap.add_argument("--repeats", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--profile-hidden", type=int, default=8,
                    help="hidden size of the profile (default 8; 0: no profile)")
    ap.add_argument("--results", default=None, help="splice the section into this .md file")
    ap.add_argument("--json", default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    env = environment()
    print(json.dumps(env))
    sets = load_sets(args.data)
    cells = tuple(c for c in args.cells.split(",") if c)
    sizes = tuple(int(h) for h in args.hidden.split(","))
    res = {"ref_words": args.ref_words, "cells": cells, "sizes": sizes, "reference": {},
           "fast_single": {}, "fast_many": {}, "profile": {},
           "profile_h": args.profile_hidden}
    for cell in cells:
        for H in sizes:
            key = f"{cell}-{H}"
            t0 = time.perf_counter()
            res["reference"][key], res["fast_single"][key] = single_thread_times(
                cell, H, sets, args.ref_words, args.repeats)
            res["fast_many"][key] = fast_many_times(cell, H, sets, args.repeats)
            print(key, f"({time.perf_counter() - t0:.0f} s)",
                  json.dumps({k: res[k][key] for k in ("reference", "fast_single",
                                                       "fast_many")}), flush=True)
        if args.profile_hidden:
            res["profile"][cell] = profile(cell, args.profile_hidden, sets, args.repeats)
            print("profile", cell, json.dumps(res["profile"][cell]), flush=True)
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
