"""Evaluation kernel for hidden size H > 1: per-word losses and First Point of Failure (FPF)
of one model on a prepared set (`words.EvalSet`, sorted, with prefix sharing as in
`evaluate`: one RNN step per node of the set's prefix trie).

One model at a time, its gates vectorized (as the training kernels, see `multicell`), not
one model per SIMD lane as the hidden-size-1 kernel: a (G*H, H) matrix-vector product
already fills the vectors. A step's recurrence is latency-bound, so the set is cut into
WALKERS contiguous runs of words with about equal trie steps, walked side by side: every
round advances each walker one step, phase by phase, so that the processor overlaps their
independent dependency chains. A walker starts its first word from the root; a word's
numbers do not depend on the cut (its states come from its own prefix either way).

Same cell formulas as `lstm_h`, `relu_h`, `gru_h`; readout and losses as `evaluate`
(counting.metrics' formulas): per word of length T, loss = sum of the T x 2 output losses /
(2T), FPF = index of the first token with a wrong output (threshold 0.5), T if none.
Cell ids and gate counts come from `counting.cells.registry`; the steps keep the kernels'
own vectorized forms (see `lstm_h`).
"""

from __future__ import annotations

import numpy as np

from counting.cells.registry import CELL_IDS, GATES
from counting.engine.intrinsics import fma
from counting.engine.jit import kernel
from counting.engine.losses import eval_term
from counting.engine.mathfn import vsigmoid, vtanh

LSTM, RELU, GRU = CELL_IDS["lstm"], CELL_IDS["relu"], CELL_IDS["gru"]
_G_LSTM, _G_RELU, _G_GRU = GATES["lstm"], GATES["relu"], GATES["gru"]
THRESHOLD = 0.5
WALKERS = 4


@kernel
def cut(offs, lcp, walkers):
    """Word ranges of the walkers, (walkers + 1,) bounds: about equal trie steps each."""
    n = offs.shape[0] - 1
    steps = np.empty(n + 1, dtype=np.int64)
    steps[0] = 0
    for s in range(n):
        steps[s + 1] = steps[s] + (offs[s + 1] - offs[s]) - lcp[s]
    bounds = np.empty(walkers + 1, dtype=np.int64)
    bounds[0] = 0
    s = 0
    for w in range(1, walkers):
        while s < n and steps[s] * walkers < steps[n] * w:
            s += 1
        bounds[w] = s
    bounds[walkers] = n
    return bounds


@kernel
def eval_model(cell, H, p, loss, toks, offs, lcp, max_len, seq_loss, fpf):
    """One model (cell id, hidden size H > 1, parameters p in `layout` order) on one set;
    seq_loss (n,) float64 and fpf (n,) int64 receive per-word results in sorted order."""
    G = _G_LSTM if cell == LSTM else (_G_RELU if cell == RELU else _G_GRU)
    R = G * H
    oWhh = 2 * R
    obih = oWhh + R * H
    obhh = obih + R
    oWo = obhh + R
    WT = np.empty((H, R))
    X = np.empty((2, R))
    A0 = np.empty((2, R))
    for r in range(R):
        for u in range(H):
            WT[u, r] = p[oWhh + r * H + u]
        for k in range(2):
            X[k, r] = p[2 * r + k] + p[obih + r]
            # the GRU's n rows: b_hh alone (the input term is added after the reset gate)
            A0[k, r] = p[obhh + r] + X[k, r] if (cell != GRU or r < 2 * H) else p[obhh + r]
    if cell == LSTM:  # one sigmoid loop for all gates: g = 2 sigmoid(2 a_g) - 1, see lstm_h
        for r in range(2 * H, 3 * H):
            A0[0, r] *= 2.0
            A0[1, r] *= 2.0
            for u in range(H):
                WT[u, r] *= 2.0
    NW = WALKERS
    bounds = cut(offs, lcp, NW)
    A = np.empty((NW, R))
    Gt = np.empty((NW, R))
    Hs = np.zeros((NW, max_len + 1, H))
    Cs = np.zeros((NW, max_len + 1, H))
    L = np.zeros((NW, max_len + 1))
    F = np.full((NW, max_len + 1), -1, dtype=np.int64)
    D = np.zeros((NW, max_len + 1), dtype=np.int64)
    word = bounds[:NW].copy()  # each walker's current word, its start, length and position
    start = np.zeros(NW, dtype=np.int64)
    T = np.zeros(NW, dtype=np.int64)
    pos = np.zeros(NW, dtype=np.int64)
    k = np.zeros(NW, dtype=np.int64)
    for w in range(NW):
        if word[w] < bounds[w + 1]:
            start[w] = offs[word[w]]
            T[w] = offs[word[w] + 1] - start[w]  # pos 0: the walker's first word from the root
    while True:
        busy = 0
        for w in range(NW):
            while word[w] < bounds[w + 1] and pos[w] == T[w]:  # word done: results, next word
                s = word[w]
                seq_loss[s] = L[w, T[w]] / (2 * T[w])
                fpf[s] = F[w, T[w]] if F[w, T[w]] >= 0 else T[w]
                word[w] += 1
                if word[w] < bounds[w + 1]:
                    start[w] = offs[word[w]]
                    T[w] = offs[word[w] + 1] - start[w]
                    pos[w] = lcp[word[w]]
            if word[w] < bounds[w + 1]:
                busy += 1
                k[w] = toks[start[w] + pos[w]]
        if busy == 0:
            break
        for w in range(NW):  # the gates' recurrent part and constant term
            if word[w] < bounds[w + 1]:
                t = pos[w]
                for r in range(R):
                    A[w, r] = A0[k[w], r]
                for u in range(0, H - 3, 4):  # four units per pass: fewer loads and stores of A
                    h0 = Hs[w, t, u]
                    h1 = Hs[w, t, u + 1]
                    h2 = Hs[w, t, u + 2]
                    h3 = Hs[w, t, u + 3]
                    for r in range(R):
                        a = fma(WT[u, r], h0, A[w, r])
                        a = fma(WT[u + 1, r], h1, a)
                        a = fma(WT[u + 2, r], h2, a)
                        A[w, r] = fma(WT[u + 3, r], h3, a)
                for u in range(H - H % 4, H):
                    hu = Hs[w, t, u]
                    for r in range(R):
                        A[w, r] = fma(WT[u, r], hu, A[w, r])
        for w in range(NW):  # the cell
            if word[w] < bounds[w + 1]:
                t = pos[w]
                if cell == LSTM:
                    for r in range(R):
                        Gt[w, r] = vsigmoid(A[w, r])
                    for u in range(H):
                        Cs[w, t + 1, u] = (Gt[w, H + u] * Cs[w, t, u]
                                           + Gt[w, u] * (2.0 * Gt[w, 2 * H + u] - 1.0))
                    for u in range(H):
                        Hs[w, t + 1, u] = Gt[w, 3 * H + u] * vtanh(Cs[w, t + 1, u])
                elif cell == RELU:
                    for u in range(H):
                        Hs[w, t + 1, u] = A[w, u] if A[w, u] > 0.0 else 0.0
                else:
                    for r in range(2 * H):
                        Gt[w, r] = vsigmoid(A[w, r])
                    for u in range(H):
                        Gt[w, 2 * H + u] = vtanh(X[k[w], 2 * H + u] + Gt[w, u] * A[w, 2 * H + u])
                    for u in range(H):
                        n = Gt[w, 2 * H + u]
                        Hs[w, t + 1, u] = (Hs[w, t, u] - n) * Gt[w, H + u] + n
        for w in range(NW):  # readout, loss, first failure
            if word[w] < bounds[w + 1]:
                t = pos[w]
                depth = D[w, t] + 1 - 2 * k[w]
                D[w, t + 1] = depth
                z0 = 0.0
                z1 = 0.0
                for u in range(H):
                    z0 = fma(p[oWo + u], Hs[w, t + 1, u], z0)
                    z1 = fma(p[oWo + H + u], Hs[w, t + 1, u], z1)
                p0 = vsigmoid(z0 + p[oWo + 2 * H])
                p1 = vsigmoid(z1 + p[oWo + 2 * H + 1])
                positive = depth > 0
                total = L[w, t] + eval_term(loss, p0, 1.0)
                L[w, t + 1] = total + eval_term(loss, p1, 1.0 if positive else 0.0)
                ok = (p0 > THRESHOLD) & ((p1 > THRESHOLD) == positive)
                F[w, t + 1] = t if (F[w, t] < 0) & (not ok) else F[w, t]
                pos[w] = t + 1
