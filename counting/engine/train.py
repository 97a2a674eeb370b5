"""Training kernels: one word's forward + BPTT (dispatch to the cell and hidden size), one
model's epoch (with the run's training options, `counting.engine.update`).

Sets are passed as `toks` (int8, all words concatenated; 0 = '(', 1 = ')') and `offs`
(int64, (n+1,), word s = toks[offs[s]:offs[s+1]]). The readout is
    z_j = h * W_out[j] + b_out[j],  p_j = sigmoid(z_j),  targets y = [1, depth > 0].
Gradients follow torch's autograd formulas: dL/dz = (dL/dp * (1 - p)) * p.
"""

from __future__ import annotations

import math

import numpy as np

from counting.engine import gru, gru_h, lstm, lstm_h, relu, relu_h
from counting.engine.adam import adam_step
from counting.engine.jit import inline, kernel
from counting.engine.layout import n_params, n_params_of
from counting.engine.multicell import work_size
from counting.engine.update import BATCH, accumulate, adjust, batch_mean

LSTM, RELU, GRU = 0, 1, 2
CACHE = 8  # scratch columns per step (the LSTM's need)


@inline
def scratch_rows(max_len, hidden):
    """Rows of the (rows, CACHE) scratch for words up to max_len tokens and hidden sizes up
    to `hidden` (hidden size 1: one row per step; H > 1: the LSTM's `multicell` work size,
    the largest of the three cells')."""
    if hidden <= 1:
        return max(max_len, 1)
    size = work_size(4, hidden, lstm_h.PER_STEP * hidden, max_len)
    return (size + CACHE - 1) // CACHE


@kernel
def sequence_grad(cell, hidden, p, loss, toks, start, T, S, grad):
    """Forward + BPTT on one word with the kernel of the cell and hidden size; -> its mean
    loss.

    p: (>= n_params,) parameters; S: (>= scratch_rows(T, hidden), CACHE) scratch, C order;
    grad (>= n_params,) receives dL/dparams in its first n_params(cell, hidden) entries.
    """
    if hidden > 1:
        if cell == LSTM:
            return lstm_h.sequence_grad(p, loss, toks, start, T, S, grad, hidden)
        if cell == RELU:
            return relu_h.sequence_grad(p, loss, toks, start, T, S, grad, hidden)
        return gru_h.sequence_grad(p, loss, toks, start, T, S, grad, hidden)
    if cell == LSTM:
        return lstm.sequence_grad(p, loss, toks, start, T, S, grad)
    if cell == RELU:
        return relu.sequence_grad(p, loss, toks, start, T, S, grad)
    return gru.sequence_grad(p, loss, toks, start, T, S, grad)


ANY = -1  # a kernel variant for every cell (or hidden size)


@kernel
def sequence_grad_h1(cell, p, loss, toks, start, T, S, grad):
    """`sequence_grad` at hidden size 1 only (the H > 1 kernels are not compiled in)."""
    if cell == LSTM:
        return lstm.sequence_grad(p, loss, toks, start, T, S, grad)
    if cell == RELU:
        return relu.sequence_grad(p, loss, toks, start, T, S, grad)
    return gru.sequence_grad(p, loss, toks, start, T, S, grad)


def _epoch_kernel(CELL, WIDE):
    """`train_epoch` compiled for cell id CELL (or ANY) and hidden size 1 (WIDE 0), > 1
    (WIDE 1) or any (ANY): numba prunes the other cells' branches (the flags are constants
    of the closure), so a variant compiles only its own cell kernels. Arithmetic is the
    same in every variant (the same kernels run); the caller passes a matching cell and
    hidden size."""
    GENERIC = CELL == ANY and WIDE == ANY
    NARROW = CELL == ANY and WIDE == 0
    L1, R1, G1 = (CELL == c and WIDE == 0 for c in (LSTM, RELU, GRU))
    LH, RH = (CELL == c and WIDE == 1 for c in (LSTM, RELU))

    @kernel
    def train_epoch(cell, hidden, p, m, v, step, lr, loss, toks, offs, order, S, grad, opts,
                    acc):
        """One epoch: for each batch of opts[BATCH] words of `order` (the last may be
        short), forward + BPTT of each word, the batch mean, L1 / clipping / weight decay
        (`update`), one Adam step. With default options (`update.default_options`) this is
        online training.

        p, m, v: (>= n_params,) parameters and Adam moments, updated in place; step: Adam's
        step count before the epoch; opts (N_OPTS,): the run's options; acc (>= n_params,):
        scratch. Returns (mean online loss over the words, step count after). Like the
        reference, stops right after the first step whose batch loss is not finite and
        returns that loss.
        """
        npar = n_params_of(cell, hidden)
        size = max(int(opts[BATCH]), 1)
        n = order.shape[0]
        total = 0.0
        j = 0
        while j < n:
            end = min(j + size, n)
            value = 0.0
            for q in range(j, end):
                s = order[q]
                start = offs[s]
                T = offs[s + 1] - start
                if GENERIC:
                    value += sequence_grad(cell, hidden, p, loss, toks, start, T, S, grad)
                elif NARROW:
                    value += sequence_grad_h1(cell, p, loss, toks, start, T, S, grad)
                elif L1:
                    value += lstm.sequence_grad(p, loss, toks, start, T, S, grad)
                elif R1:
                    value += relu.sequence_grad(p, loss, toks, start, T, S, grad)
                elif G1:
                    value += gru.sequence_grad(p, loss, toks, start, T, S, grad)
                elif LH:
                    value += lstm_h.sequence_grad(p, loss, toks, start, T, S, grad, hidden)
                elif RH:
                    value += relu_h.sequence_grad(p, loss, toks, start, T, S, grad, hidden)
                else:
                    value += gru_h.sequence_grad(p, loss, toks, start, T, S, grad, hidden)
                if end - j > 1:
                    accumulate(acc, grad, npar, q == j)
            if end - j > 1:
                batch_mean(grad, acc, npar, float(end - j))
            adjust(p, grad, npar, opts)
            step += 1.0
            adam_step(p, grad, m, v, npar, step, lr)
            if not math.isfinite(value):
                return value, step
            total += value
            j = end
        return total / max(n, 1), step

    return train_epoch


# Every variant is created now (nothing is compiled until one is called).
EPOCH_KERNELS = {(c, w): _epoch_kernel(c, w) for c in (ANY, LSTM, RELU, GRU)
                 for w in ((ANY, 0) if c == ANY else (0, 1))}
train_epoch = EPOCH_KERNELS[ANY, ANY]  # every cell and hidden size (runtime dispatch)
train_epoch_h1 = EPOCH_KERNELS[ANY, 0]  # every cell, hidden size 1


def epoch_kernel(cell: int, hidden: int):
    """The `train_epoch` variant for one model of cell id `cell` and hidden size `hidden`."""
    return EPOCH_KERNELS[int(cell), 0 if int(hidden) <= 1 else 1]


def scratch(max_len: int, cell: str = "lstm", hidden: int = 1):
    """(S, grad) scratch arrays for words up to max_len tokens (a model of `cell`, `hidden`)."""
    rows = scratch_rows(max(int(max_len), 1), int(hidden))
    return np.empty((rows, CACHE)), np.empty(max(n_params(cell, hidden), n_params("lstm")))
