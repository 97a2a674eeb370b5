"""ReLU-RNN cell, hidden size 1: a forward step, and one word's forward + BPTT.

torch's CPU order (SimpleCell): a = (W_hh * h + b_hh) + (W_ih[k] + b_ih); h' = max(a, 0).
The gradient passes where h' > 0 (torch's threshold_backward on the result).
Parameter indices follow `layout`: W_ih k, W_hh 2, b_ih 3, b_hh 4, W_out 5+j, b_out 7+j.

`step`, `lane_step` and `sequence_grad`'s forward pass are `counting.cells.relu`'s step
(the one definition) with the engine's relu (a NaN pre-activation gives 0, as the engine
always did; torch keeps NaN). The backward pass is the engine's own (dh where h' > 0, so a
NaN h' passes nothing), held to torch within 1e-12 by tests/test_cell_conformance.py.
"""

from __future__ import annotations

from counting.engine.jit import inline, kernel
from counting.engine.losses import readout_grad
from counting.engine.steps import RELU_STEP as _STEP


@inline
def step(p, k, h):
    return _STEP(0, (p[2] * h + p[4],), (p[k] + p[3],))[0]


@inline
def lane_step(PT, j, k, h):
    """`step` for the model in column j of PT (P_MAX, lanes) -> h'."""
    return _STEP(0, (PT[2, j] * h + PT[4, j],), (PT[k, j] + PT[3, j],))[0]


@kernel
def sequence_grad(p, loss, toks, start, T, S, grad):
    """Forward + BPTT on the word toks[start:start+T]; writes dL/dparams to grad[:9].

    S: (>= T, >= 2) scratch (columns h_t, dL/dh_t from the readout). -> the mean loss.
    Gradients are summed in local registers, from the last step to the first.
    """
    n = 2 * T
    w0, w1, whh, bih, bhh = p[0], p[1], p[2], p[3], p[4]
    wo0, wo1, bo0, bo1 = p[5], p[6], p[7], p[8]
    h = 0.0
    depth = 0
    total = 0.0
    gwo0 = gwo1 = gbo0 = gbo1 = 0.0
    for t in range(T):
        k = toks[start + t]
        depth += 1 - 2 * k
        h = _STEP(0, (whh * h + bhh,), ((w1 if k else w0) + bih,))[0]
        l0, l1, dz0, dz1 = readout_grad(loss, h, depth, wo0, wo1, bo0, bo1, n)
        total += l0
        total += l1
        gwo0 += dz0 * h
        gwo1 += dz1 * h
        gbo0 += dz0
        gbo1 += dz1
        S[t, 0] = h
        S[t, 1] = dz0 * wo0 + dz1 * wo1
    gw0 = gw1 = gwhh = gb = 0.0
    dh = 0.0
    for t in range(T - 1, -1, -1):
        k = toks[start + t]
        h_prev = S[t - 1, 0] if t > 0 else 0.0
        dh += S[t, 1]
        da = dh if S[t, 0] > 0.0 else 0.0
        gw0 += 0.0 if k else da
        gw1 += da if k else 0.0
        gwhh += da * h_prev
        gb += da
        dh = da * whh
    grad[0], grad[1], grad[2], grad[3], grad[4] = gw0, gw1, gwhh, gb, gb
    grad[5], grad[6], grad[7], grad[8] = gwo0, gwo1, gbo0, gbo1
    return total / n
