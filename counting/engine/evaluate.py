"""Evaluation kernel: per-word losses and First Point of Failure (FPF) of several models of
one cell on a whole set, one model per SIMD lane.

A set is prepared once (`counting.engine.words.EvalSet`): its words sorted, so that
consecutive words share their longest common prefix (LCP). The kernel keeps, for every
depth of the current word, every model's state, running loss sum and first failure, and
resumes each word from its LCP with the previous one: the work is one RNN step per node of
the set's prefix trie (on the paper's training set 147k steps instead of 316k). Every
word's loss sum is still accumulated token by token from its start, as a word-by-word loop
would. All models walk the same words, so the innermost loop runs over models (lanes) with
no branches and LLVM vectorizes it (activations from `mathfn.vexp`). A model's results do
not depend on the other models of its block.

Per word of length T: loss = sum over the T x 2 outputs of the metrics loss / (2T);
FPF = index of the first token with a wrong output (threshold 0.5), T if none.
"""

from __future__ import annotations

import numpy as np

from counting.engine import gru, lstm, relu
from counting.engine.jit import inline, kernel
from counting.engine.losses import BCE, MSE, eval_term
from counting.engine.mathfn import vsigmoid

LSTM, RELU, GRU = 0, 1, 2
THRESHOLD = 0.5


def _advance_kernel(CELL):
    """`advance(PT, k, t, pos, H, C, L, F)` for cell id CELL: every lane (model) one token
    further, rows t -> t + 1 of the per-depth stacks, with the MSE loss terms added to L
    (see `_bce_terms` for BCE). One function per cell (the cell a constant of the closure),
    so that numba inlines only that cell's step where it is called."""
    IS_LSTM, IS_RELU = CELL == LSTM, CELL == RELU
    o = 20 if IS_LSTM else (5 if IS_RELU else 15)  # readout offset 5G

    @inline
    def advance(PT, k, t, pos, H, C, L, F):
        y1 = 1.0 if pos else 0.0
        for j in range(PT.shape[1]):
            h = H[t, j]
            c = C[t, j]
            if IS_LSTM:
                h, c = lstm.lane_step(PT, j, k, h, c)
            elif IS_RELU:
                h = relu.lane_step(PT, j, k, h)
            else:
                h = gru.lane_step(PT, j, k, h)
            p0 = vsigmoid(h * PT[o, j] + PT[o + 2, j])
            p1 = vsigmoid(h * PT[o + 1, j] + PT[o + 3, j])
            total = L[t, j] + eval_term(MSE, p0, 1.0)
            L[t + 1, j] = total + eval_term(MSE, p1, y1)
            ok = (p0 > THRESHOLD) & ((p1 > THRESHOLD) == pos)
            first = F[t, j]
            F[t + 1, j] = t if (first < 0) & (not ok) else first
            H[t + 1, j] = h
            C[t + 1, j] = c

    return advance


_advance_lstm = _advance_kernel(LSTM)
_advance_relu = _advance_kernel(RELU)
_advance_gru = _advance_kernel(GRU)


@kernel
def _bce_terms(o, PT, t, pos, H, L):
    """Replace the MSE terms `advance` added at row t + 1 by BCE terms (a scalar loop:
    log is libm's); the outputs are recomputed from h exactly as `advance` did. A kernel
    of its own, not inlined: every `eval_block` variant calls the one compiled copy."""
    y1 = 1.0 if pos else 0.0
    for j in range(PT.shape[1]):
        h = H[t + 1, j]
        p0 = vsigmoid(h * PT[o, j] + PT[o + 2, j])
        p1 = vsigmoid(h * PT[o + 1, j] + PT[o + 3, j])
        total = L[t, j] + eval_term(BCE, p0, 1.0)
        L[t + 1, j] = total + eval_term(BCE, p1, y1)


ANY = -1  # the variant for every cell


def _block_kernel(CELL):
    """`eval_block` compiled for cell id CELL (or ANY: every cell, chosen at run time):
    numba prunes the other cells' branches (the flags are constants of the closure), so a
    variant compiles only its own cell's step. The same arithmetic in every variant; the
    caller passes a matching cell."""
    GENERIC = CELL == ANY
    IS_LSTM, IS_RELU = CELL == LSTM, CELL == RELU

    @kernel
    def eval_block(cell, PT, loss, toks, offs, lcp, max_len, seq_loss, fpf):
        """Models of one cell on one prepared set (sorted order).

        PT: (P_MAX, B) parameters, one column per model; seq_loss (B, n) float64 and fpf (B, n)
        int64 receive each model's per-word losses and FPFs in the set's sorted order.
        """
        B = PT.shape[1]
        H = np.zeros((max_len + 1, B))
        C = np.zeros((max_len + 1, B))
        L = np.zeros((max_len + 1, B))
        F = np.full((max_len + 1, B), -1, dtype=np.int64)
        D = np.zeros(max_len + 1, dtype=np.int64)
        o = 20 if cell == LSTM else (5 if cell == RELU else 15)  # readout offset 5G
        for s in range(offs.shape[0] - 1):
            start = offs[s]
            T = offs[s + 1] - start
            depth = D[lcp[s]]
            for t in range(lcp[s], T):
                k = toks[start + t]
                depth += 1 - 2 * k
                D[t + 1] = depth
                pos = depth > 0
                if GENERIC:
                    if cell == LSTM:
                        _advance_lstm(PT, k, t, pos, H, C, L, F)
                    elif cell == RELU:
                        _advance_relu(PT, k, t, pos, H, C, L, F)
                    else:
                        _advance_gru(PT, k, t, pos, H, C, L, F)
                elif IS_LSTM:
                    _advance_lstm(PT, k, t, pos, H, C, L, F)
                elif IS_RELU:
                    _advance_relu(PT, k, t, pos, H, C, L, F)
                else:
                    _advance_gru(PT, k, t, pos, H, C, L, F)
                if loss != MSE:
                    _bce_terms(o, PT, t, pos, H, L)
            for j in range(B):
                seq_loss[j, s] = L[T, j] / (2 * T)
                fpf[j, s] = F[T, j] if F[T, j] >= 0 else T

    return eval_block


# Every variant is created now (nothing is compiled until one is called).
BLOCK_KERNELS = {c: _block_kernel(c) for c in (ANY, LSTM, RELU, GRU)}
eval_block = BLOCK_KERNELS[ANY]  # every cell (runtime dispatch)


def block_kernel(cell: int):
    """The `eval_block` variant for models of cell id `cell`."""
    return BLOCK_KERNELS[int(cell)]
