"""Per-output loss terms and their gradients, as torch computes them (mean reduction).

For one sequence of T tokens the loss is the mean over its N = 2T outputs.
    MSE: l = (p - y)^2,                    dl/dp = (p - y) * (2 / N)
    BCE: l = (y - 1) * max(log1p(-p), -100) - y * max(log(p), -100),
         dl/dp = (p - y) / max((1 - p) p, EPS32) / N   (EPS32 = float32(1e-12), as aten)
Evaluation losses follow `counting.metrics.sequence_loss` instead (numpy's formulas).
"""

from __future__ import annotations

import math

import numpy as np

from counting.engine.jit import inline
from counting.engine.mathfn import sigmoid

MSE = 0
BCE = 1
LOSS_IDS = {"mse": MSE, "bce": BCE}
EPS32 = float(np.float32(1e-12))
LOG_FLOOR = math.exp(-100.0)


def loss_id(loss: str) -> int:
    if loss not in LOSS_IDS:
        raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")
    return LOSS_IDS[loss]


@inline
def train_term(loss, p, y, n):
    """-> (loss term before the 1/N mean, dL/dp for the mean loss over n outputs)."""
    if loss == MSE:
        d = p - y
        return d * d, d * (2.0 / n)
    lp = math.log(p)  # -inf at 0; NaN propagates like std::max(NaN, -100)
    lq = math.log1p(-p)
    lp = -100.0 if lp < -100.0 else lp
    lq = -100.0 if lq < -100.0 else lq
    w = (1.0 - p) * p
    w = EPS32 if w < EPS32 else w
    return (y - 1.0) * lq - y * lp, (p - y) / w / n


@inline
def _clip(x):
    """np.clip(x, LOG_FLOOR, 1.0), NaN kept."""
    x = LOG_FLOOR if x < LOG_FLOOR else x
    return 1.0 if x > 1.0 else x


@inline
def eval_term(loss, p, y):
    """One output's loss as counting.metrics.sequence_loss computes it."""
    if loss == MSE:
        d = p - y
        return d * d
    pc = _clip(p)
    qc = _clip(1.0 - p)
    return -(y * math.log(pc) + (1.0 - y) * math.log(qc))


@inline
def readout_grad(loss, h, depth, wo0, wo1, bo0, bo1, n):
    """Readout of one step in training: p_j = sigmoid(h * W_out[j] + b_out[j]) against
    targets [1, depth > 0]. -> (l0, l1, dz0, dz1): the two loss terms (before the 1/N mean)
    and dL/dz_j for the mean loss over n outputs, as torch: (dL/dp * (1 - p)) * p."""
    p0 = sigmoid(h * wo0 + bo0)
    p1 = sigmoid(h * wo1 + bo1)
    l0, d0 = train_term(loss, p0, 1.0, n)
    l1, d1 = train_term(loss, p1, 1.0 if depth > 0 else 0.0, n)
    return l0, l1, d0 * (1.0 - p0) * p0, d1 * (1.0 - p1) * p1
