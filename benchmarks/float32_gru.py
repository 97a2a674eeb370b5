"""Does float32 alone move the GRU? (issue 22) A float32 path of our own for the hidden-size-1
GRU, the same code in float32 and float64, so that precision is the only difference.

    python benchmarks/float32_gru.py --data AUTHORS_SPLIT --seed 0 --runs 10 [--check]

Trains the GRU runs of one reproduction seed (init seeds `counting.sweep.run_seed(seed,
"gru", r)`, initial weights drawn in float32 as every path here draws them, the shuffle
orders of `counting.training.EpochStreams`) in both precisions with one numba kernel
(forward, BPTT, torch's single-tensor Adam; every operation in the array's dtype: constants
and scalars are cast to it), lr 0.001, 30 epochs, online MSE. After every epoch it records
the true mean validation loss and the authors' logged loss (the last word of the epoch's
seeded validation shuffle / the set size), evaluated in the same precision. The very-long
FPF of the best epoch, under both selection rules and both session schedules, is evaluated
by torch's nn.GRU in the run's dtype (`counting.metrics.evaluate`).

--check compares the kernel with the project's engines first: float64 against the fast
engine (parameters after one epoch), float32 against torch's float32 reference (200 steps).
Prints one JSON line per run and a summary; writes nothing else.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
from numba import njit

from counting.datasets import load_datasets
from counting.dyck import validate
from counting.inits import initial_model
from counting.metrics import evaluate
from counting.models import CounterRNN
from counting.sweep import run_seed
from counting.training import EpochStreams, TrainConfig

NP = 19  # W_ih (3 x 2: r, z, n), W_hh (3), b_ih (3), b_hh (3), W_out (2), b_out (2)


def pack(model: CounterRNN, dtype) -> np.ndarray:
    g, out = model.rnn, model.readout
    parts = [g.weight_ih_l0.detach().reshape(-1), g.weight_hh_l0.detach().reshape(-1),
             g.bias_ih_l0.detach(), g.bias_hh_l0.detach(), out.weight.detach().reshape(-1),
             out.bias.detach()]
    return np.concatenate([p.double().numpy() for p in parts]).astype(dtype)


def unpack(p: np.ndarray) -> CounterRNN:
    dtype = torch.float32 if p.dtype == np.float32 else torch.float64
    m = CounterRNN("gru", 1, dtype)
    t = torch.from_numpy(p.copy())
    with torch.no_grad():
        m.rnn.weight_ih_l0.copy_(t[0:6].reshape(3, 2))
        m.rnn.weight_hh_l0.copy_(t[6:9].reshape(3, 1))
        m.rnn.bias_ih_l0.copy_(t[9:12])
        m.rnn.bias_hh_l0.copy_(t[12:15])
        m.readout.weight.copy_(t[15:17].reshape(2, 1))
        m.readout.bias.copy_(t[17:19])
    return m.eval()


def packed(words: list[str]):
    toks = np.concatenate([np.frombuffer(w.encode(), np.uint8) == ord(")") for w in words])
    offs = np.concatenate([[0], np.cumsum([len(w) for w in words])]).astype(np.int64)
    depth = np.concatenate([validate(w, balanced=False) for w in words])
    return toks.astype(np.int8), offs, (depth > 0).astype(np.int8)


@njit(cache=False)
def _sig(x, one):
    return one / (one + np.exp(-x))


@njit(cache=False)
def word_forward(p, toks, y1, s, T, H, R, Z, N, HN, PO, one):
    """Forward over one word; stores the states; -> the word's mean MSE (in p's dtype)."""
    h = p[0] * 0
    total = p[0] * 0
    for t in range(T):
        k = toks[s + t]
        hn = p[8] * h + p[14]
        r = _sig(p[0 + k] + p[9] + p[6] * h + p[12], one)
        z = _sig(p[2 + k] + p[10] + p[7] * h + p[13], one)
        n = np.tanh(p[4 + k] + p[11] + r * hn)
        hnew = (one - z) * n + z * h
        R[t], Z[t], N[t], HN[t], H[t] = r, z, n, hn, h  # H[t]: the state before step t
        h = hnew
        H[t + 1] = h
        for j in range(2):
            po = _sig(h * p[15 + j] + p[17 + j], one)
            PO[t, j] = po
            y = one if j == 0 else (one if y1[s + t] else one * 0)
            total += (po - y) * (po - y)
    return total


@njit(cache=False)
def word_grad(p, toks, y1, s, T, g, H, R, Z, N, HN, PO, one, two, invn):
    """Forward + BPTT of one word into g; -> its mean loss."""
    total = word_forward(p, toks, y1, s, T, H, R, Z, N, HN, PO, one)
    for i in range(g.size):
        g[i] = g[i] * 0
    dh = p[0] * 0
    for t in range(T - 1, -1, -1):
        h = H[t + 1]
        for j in range(2):
            po = PO[t, j]
            y = one if j == 0 else (one if y1[s + t] else one * 0)
            dp = two * (po - y) * invn
            dzo = dp * (one - po) * po
            g[15 + j] += dzo * h
            g[17 + j] += dzo
            dh += dzo * p[15 + j]
        k = toks[s + t]
        hp, r, z, n, hn = H[t], R[t], Z[t], N[t], HN[t]
        dn = dh * (one - z)
        dz = dh * (hp - n)
        dhp = dh * z
        da_n = dn * (one - n * n)
        g[4 + k] += da_n
        g[11] += da_n
        dr = da_n * hn
        dhn = da_n * r
        g[8] += dhn * hp
        g[14] += dhn
        dhp += dhn * p[8]
        da_z = dz * (one - z) * z
        g[2 + k] += da_z
        g[10] += da_z
        g[7] += da_z * hp
        g[13] += da_z
        dhp += da_z * p[7]
        da_r = dr * (one - r) * r
        g[0 + k] += da_r
        g[9] += da_r
        g[6] += da_r * hp
        g[12] += da_r
        dhp += da_r * p[6]
        dh = dhp
    return total * invn


@njit(cache=False)
def train_epoch(p, m, v, step, lr, toks, offs, y1, order, invn, consts, sc, H, R, Z, N, HN,
                PO):
    """One online epoch with torch's single-tensor Adam; -> (mean online loss, step).
    consts = [1, 2, lr, beta1, beta2, eps, 1 - beta1, 1 - beta2] in p's dtype; sc: scratch."""
    one, two = consts[0], consts[1]
    b2, eps, c1, c2 = consts[4], consts[5], consts[6], consts[7]
    g = np.empty_like(p)
    total = 0.0
    for q in range(order.size):
        w = order[q]
        s, T = offs[w], offs[w + 1] - offs[w]
        total += word_grad(p, toks, y1, s, T, g, H, R, Z, N, HN, PO, one, two, invn[w])
        step += 1
        bc1 = 1.0 - 0.9 ** step  # python floats in torch (double), cast where used
        bc2 = 1.0 - 0.999 ** step
        sc[0] = lr / bc1  # torch: lr / bc1 in double, the scalar cast to the dtype
        sc[1] = math.sqrt(bc2)
        for i in range(p.size):
            m[i] = m[i] + c1 * (g[i] - m[i])  # torch: exp_avg.lerp_(grad, 1 - beta1)
            v[i] = v[i] * b2 + c2 * g[i] * g[i]
            denom = np.sqrt(v[i]) / sc[1] + eps
            p[i] = p[i] - sc[0] * (m[i] / denom)
    return total / max(order.size, 1), step


@njit(cache=False)
def word_losses(p, toks, offs, y1, invn, one, H, R, Z, N, HN, PO, out):
    for w in range(offs.size - 1):
        s, T = offs[w], offs[w + 1] - offs[w]
        out[w] = word_forward(p, toks, y1, s, T, H, R, Z, N, HN, PO, one) * invn[w]


class Run:
    def __init__(self, init: np.ndarray, dtype, lr: float, max_len: int):
        self.p = init.astype(dtype).copy()
        self.m = np.zeros(NP, dtype)
        self.v = np.zeros(NP, dtype)
        self.step = 0
        self.lr = float(lr)
        self.consts = np.array([1, 2, lr, 0.9, 0.999, 1e-8, 0.1, 0.001], dtype)
        self.sc = np.zeros(2, dtype)
        L = max_len + 1
        self.buf = [np.zeros(L, dtype) for _ in range(5)] + [np.zeros((L, 2), dtype)]

    def epoch(self, data, order):
        toks, offs, y1, invn = data
        loss, self.step = train_epoch(self.p, self.m, self.v, self.step, self.lr, toks, offs,
                                      y1,
                                      order.astype(np.int64), invn, self.consts, self.sc,
                                      *self.buf)
        return loss

    def losses(self, data):
        toks, offs, y1, invn = data
        out = np.zeros(offs.size - 1, self.p.dtype)
        word_losses(self.p, toks, offs, y1, invn, self.consts[0], *self.buf, out)
        return out


def prepared(words, dtype):
    toks, offs, y1 = packed(words)
    lengths = np.diff(offs)
    invn = (np.ones(len(words), dtype) / (2 * lengths).astype(dtype)).astype(dtype)
    return toks, offs, y1, invn


def train_run(sets, seed: int, dtype, epochs: int = 30, sessions: str = "one"):
    """-> per-epoch records (true mean / logged validation loss) and parameters."""
    config = TrainConfig(cell="gru", seed=seed, selection="authors", sessions=sessions)
    init = pack(initial_model(TrainConfig(cell="gru", seed=seed)), np.float64)
    max_len = max(len(w) for k in ("train", "validation") for w in sets[k])
    run = Run(init, dtype, 0.001, max_len)
    tr, va = prepared(sets["train"], dtype), prepared(sets["validation"], dtype)
    streams = EpochStreams(config, len(sets["train"]), len(sets["validation"]))
    recs, params = [], []
    for e in range(1, epochs + 1):
        order, last = streams.next()
        online = run.epoch(tr, order)
        wl = run.losses(va)
        mean = float(np.mean(wl.astype(np.float64)))
        recs.append({"epoch": e, "online": float(online), "val_mean": mean,
                     "val_logged": float(wl[last]) / len(wl)})
        params.append(run.p.copy())
    return recs, params


def pick(recs, rule: str) -> int:
    """0-based index of the best epoch: 'mean' over all epochs, 'authors' logged over 1-20."""
    if rule == "mean":
        return int(np.argmin([r["val_mean"] for r in recs]))
    return int(np.argmin([r["val_logged"] for r in recs[:20]]))


def check(sets) -> dict:
    """The kernel against the project's engines (see the module docstring)."""
    from counting.engine import FastBackend
    from counting.training import ReferenceBackend, shuffle_orders

    out = {}
    config = TrainConfig(cell="gru", seed=3)
    small = sets["train"][:2000]
    order = shuffle_orders(3, len(small), 1)[0]
    fb = FastBackend(initial_model(config), small, config)
    fb.train_epoch(order)
    init = pack(initial_model(config), np.float64)
    run = Run(init, np.float64, 0.001, max(len(w) for w in small))
    run.epoch(prepared(small, np.float64), order)
    out["float64_vs_fast_engine_max_abs_param_diff_2000_steps"] = float(
        np.max(np.abs(run.p - pack(fb.to_model(), np.float64))))
    c32 = TrainConfig(cell="gru", seed=3, dtype="float32")
    rb = ReferenceBackend(initial_model(c32), small, c32)
    rb.train_epoch(order[:200])
    run32 = Run(init, np.float32, 0.001, max(len(w) for w in small))
    run32.epoch(prepared(small, np.float32), order[:200])
    ref = pack(rb.to_model(), np.float64)
    out["float32_vs_torch_float32_max_abs_param_diff_200_steps"] = float(
        np.max(np.abs(run32.p.astype(np.float64) - ref)))
    out["float32_vs_float64_kernel_max_abs_param_diff_200_steps"] = float(np.max(np.abs(
        run32.p.astype(np.float64) - _steps(init, small, order[:200]))))
    return out


def _steps(init, words, order):
    run = Run(init, np.float64, 0.001, max(len(w) for w in words))
    run.epoch(prepared(words, np.float64), order)
    return run.p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=0, help="the reproduction seed (sweep seed)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sets = load_datasets(args.data, ("train", "validation", "very_long"), required=("train",))
    if args.check:
        print(json.dumps({"check": check(sets)}), flush=True)
    summary = {}
    for r in range(args.runs):
        seed = run_seed(args.seed, "gru", r)
        row = {"run": r, "init_seed": seed}
        for dtype, name in ((np.float64, "float64"), (np.float32, "float32")):
            for sessions in ("one", "authors"):
                t0 = time.perf_counter()
                recs, params = train_run(sets, seed, dtype, sessions=sessions)
                for rule in ("mean", "authors"):
                    if sessions == "authors" and rule == "mean":
                        continue  # not a combination of either protocol
                    i = pick(recs, rule)
                    fpf = evaluate(unpack(params[i]), sets["very_long"])["fpf"]
                    # paper = (one session, mean); authors = (their sessions, logged 1-20);
                    # (one session, logged 1-20) picks among the same epochs 1-20 as authors
                    key = f"{name}/" + ("paper" if rule == "mean" else
                                        "authors" if sessions == "authors" else
                                        "selection-authors")
                    row[key] = {"best_epoch": i + 1, "very_long_fpf": fpf}
                    summary.setdefault(key, []).append(fpf)
                row[f"{name}/{sessions}/seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(row), flush=True)
    print(json.dumps({"summary": {k: {"mean": float(np.mean(v)), "min": float(np.min(v)),
                                      "max": float(np.max(v)), "n": len(v)}
                                  for k, v in summary.items()}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
