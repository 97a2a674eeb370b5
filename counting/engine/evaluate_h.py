"""Evaluation kernel for hidden size H > 1: per-word losses and First Point of Failure (FPF)
of one model on a prepared set (`words.EvalSet`, sorted, with prefix sharing as in
`evaluate`: one RNN step per node of the set's prefix trie).

One model at a time, its gates vectorized (as the training kernels, see `multicell`), not
one model per SIMD lane as the hidden-size-1 kernel: a (4H, H) matrix-vector product already
fills the vectors. Same cell formulas as `lstm_h`, `relu_h`, `gru_h`; readout and losses as
`evaluate` (counting.metrics' formulas): per word of length T, loss = sum of the T x 2
output losses / (2T), FPF = index of the first token with a wrong output (threshold 0.5),
T if none.
"""

from __future__ import annotations

import numpy as np

from counting.engine.intrinsics import fma
from counting.engine.jit import kernel
from counting.engine.losses import eval_term
from counting.engine.mathfn import vsigmoid, vtanh

LSTM, RELU, GRU = 0, 1, 2
THRESHOLD = 0.5


@kernel
def eval_model(cell, H, p, loss, toks, offs, lcp, max_len, seq_loss, fpf):
    """One model (cell id, hidden size H > 1, parameters p in `layout` order) on one set;
    seq_loss (n,) float64 and fpf (n,) int64 receive per-word results in sorted order."""
    G = 4 if cell == LSTM else (1 if cell == RELU else 3)
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
    A = np.empty(R)
    Gt = np.empty(R)
    Hs = np.zeros((max_len + 1, H))
    Cs = np.zeros((max_len + 1, H))
    L = np.zeros(max_len + 1)
    F = np.full(max_len + 1, -1, dtype=np.int64)
    D = np.zeros(max_len + 1, dtype=np.int64)
    for s in range(offs.shape[0] - 1):
        start = offs[s]
        T = offs[s + 1] - start
        depth = D[lcp[s]]
        for t in range(lcp[s], T):
            k = toks[start + t]
            depth += 1 - 2 * k
            D[t + 1] = depth
            for r in range(R):
                A[r] = A0[k, r]
            for u in range(H):
                hu = Hs[t, u]
                for r in range(R):
                    A[r] = fma(WT[u, r], hu, A[r])
            if cell == LSTM:
                for r in range(2 * H):
                    Gt[r] = vsigmoid(A[r])
                for r in range(2 * H, 3 * H):
                    Gt[r] = vtanh(A[r])
                for r in range(3 * H, R):
                    Gt[r] = vsigmoid(A[r])
                for u in range(H):
                    Cs[t + 1, u] = Gt[H + u] * Cs[t, u] + Gt[u] * Gt[2 * H + u]
                for u in range(H):
                    Hs[t + 1, u] = Gt[3 * H + u] * vtanh(Cs[t + 1, u])
            elif cell == RELU:
                for u in range(H):
                    Hs[t + 1, u] = A[u] if A[u] > 0.0 else 0.0
            else:
                for r in range(2 * H):
                    Gt[r] = vsigmoid(A[r])
                for u in range(H):
                    Gt[2 * H + u] = vtanh(X[k, 2 * H + u] + Gt[u] * A[2 * H + u])
                for u in range(H):
                    n = Gt[2 * H + u]
                    Hs[t + 1, u] = (Hs[t, u] - n) * Gt[H + u] + n
            z0 = 0.0
            z1 = 0.0
            for u in range(H):
                z0 = fma(p[oWo + u], Hs[t + 1, u], z0)
                z1 = fma(p[oWo + H + u], Hs[t + 1, u], z1)
            p0 = vsigmoid(z0 + p[oWo + 2 * H])
            p1 = vsigmoid(z1 + p[oWo + 2 * H + 1])
            pos = depth > 0
            total = L[t] + eval_term(loss, p0, 1.0)
            L[t + 1] = total + eval_term(loss, p1, 1.0 if pos else 0.0)
            ok = (p0 > THRESHOLD) & ((p1 > THRESHOLD) == pos)
            F[t + 1] = t if (F[t] < 0) & (not ok) else F[t]
        seq_loss[s] = L[T] / (2 * T)
        fpf[s] = F[T] if F[T] >= 0 else T
