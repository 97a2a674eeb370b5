"""The training options between BPTT and Adam: batch mean, L1, clipping, weight decay.

A run's options travel to the kernels as one float64 vector `opts` (N_OPTS,):

    opts[BATCH]  words per Adam step (>= 1)
    opts[CLIP]   max global L2 norm of the gradient; 0 = no clipping
    opts[DECAY]  Adam weight decay W
    opts[L1]     L1 coefficient L

All of them act on a model's flat parameter and gradient vectors (their first `n` entries),
so they are the same for every cell and hidden size. Each follows torch's arithmetic
(`counting.training.ReferenceBackend`), tested to the engine's tolerances:
- batch mean: the gradients of the batch's words are summed in order and divided by the
  batch size (torch scales each word's graph by 1/B instead: equal to rounding);
- L1: grad += L * sign(w), sign(0) = 0 - what autograd adds for L * |w|.sum() (torch
  accumulates the two parts of a recurrent weight's gradient in another order: equal to
  1 ulp);
- clipping: coef = NORM / (||grad||_2 + 1e-6), clamped at 1 (NaN stays NaN), grad *= coef -
  clip_grad_norm_'s rule; the norm here is taken over the flat vector, torch's as the norm
  of per-tensor norms (equal to rounding);
- weight decay: grad = fma(W, w, grad), torch's CPU `grad.add(param, alpha=W)` bit for bit
  (it is fused there), before the Adam moments.
Every step is skipped when its option is off, so that default options leave the online
epoch's arithmetic exactly as it was.
"""

from __future__ import annotations

import math

import numpy as np

from counting.engine.intrinsics import fma
from counting.engine.jit import inline

BATCH, CLIP, DECAY, L1 = 0, 1, 2, 3
N_OPTS = 4
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s


def options_vector(config) -> np.ndarray:
    """A `TrainConfig`'s batch_size, clip, weight_decay, l1 -> opts (N_OPTS,) float64."""
    opts = np.zeros(N_OPTS)
    opts[BATCH] = config.batch_size
    opts[CLIP] = 0.0 if config.clip is None else config.clip
    opts[DECAY] = config.weight_decay
    opts[L1] = config.l1
    return opts


def default_options(rows: int) -> np.ndarray:
    """(rows, N_OPTS) options of the paper's protocol: batch 1, nothing else."""
    opts = np.zeros((rows, N_OPTS))
    opts[:, BATCH] = 1.0
    return opts


@inline
def accumulate(acc, grad, n, first):
    """acc[:n] = grad[:n] when `first`, else acc[:n] += grad[:n]."""
    if first:
        for i in range(n):
            acc[i] = grad[i]
    else:
        for i in range(n):
            acc[i] += grad[i]


@inline
def batch_mean(grad, acc, n, size):
    """grad[:n] = acc[:n] / size."""
    for i in range(n):
        grad[i] = acc[i] / size


@inline
def adjust(p, grad, n, opts):
    """L1, clipping and weight decay, in torch's order, on grad[:n] (p: the parameters)."""
    l1 = opts[L1]
    if l1 != 0.0:
        for i in range(n):
            if p[i] > 0.0:
                grad[i] += l1
            elif p[i] < 0.0:
                grad[i] -= l1
            elif p[i] != p[i]:
                grad[i] += l1 * p[i]  # sign(NaN) = NaN, as torch's sgn
    clip = opts[CLIP]
    if clip > 0.0:
        sq = 0.0
        for i in range(n):
            sq += grad[i] * grad[i]
        coef = clip / (math.sqrt(sq) + CLIP_EPS)
        if coef >= 1.0:
            coef = 1.0
        if coef != 1.0:  # also NaN: torch's clamp keeps it
            for i in range(n):
                grad[i] *= coef
    decay = opts[DECAY]
    if decay != 0.0:
        for i in range(n):
            grad[i] = fma(decay, p[i], grad[i])
