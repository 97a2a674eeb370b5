"""LSTM cell, hidden size 1: a forward step, and one word's forward + BPTT.

torch's CPU order (aten RNN.cpp, LSTMCell): for gate q in (i, f, g, o)
    a_q = (W_hh[q] * h + b_hh[q]) + (W_ih[q, k] + b_ih[q])
    i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
    c' = f * c + i * g;  h' = o * tanh(c')
Parameter indices follow `layout`: W_ih 2q+k, W_hh 8+q, b_ih 12+q, b_hh 16+q, W_out 20+j,
b_out 22+j.

`step` and `lane_step` are `counting.cells.lstm`'s step (the one definition) over the
engine's activations. `sequence_grad`'s backward pass keeps its own order of the products
(e.g. dc g i (1 - i), where the definition has torch's dc g (1 - i) i): it is what every
checkpoint and history of the engine was made with; it is held to torch within 1e-12 by
tests/test_cell_conformance.py.
"""

from __future__ import annotations

from counting.engine.jit import inline, kernel
from counting.engine.losses import readout_grad
from counting.engine.steps import LSTM_LANE_STEP as _LANE_STEP
from counting.engine.steps import LSTM_STEP as _STEP


@inline
def step(p, k, h, c):
    """One step from (h, c) on token k -> (h', c', i, f, g, o, tanh(c'))."""
    gh = (p[8] * h + p[16], p[9] * h + p[17], p[10] * h + p[18], p[11] * h + p[19])
    gi = (p[k] + p[12], p[2 + k] + p[13], p[4 + k] + p[14], p[6 + k] + p[15])
    return _STEP(0, gh, gi, c)


@inline
def lane_step(PT, j, k, h, c):
    """`step` for the model in column j of PT (P_MAX, lanes), with the branch-free
    activations of the evaluation kernel -> (h', c')."""
    gh = (PT[8, j] * h + PT[16, j], PT[9, j] * h + PT[17, j], PT[10, j] * h + PT[18, j],
          PT[11, j] * h + PT[19, j])
    gi = (PT[k, j] + PT[12, j], PT[2 + k, j] + PT[13, j], PT[4 + k, j] + PT[14, j],
          PT[6 + k, j] + PT[15, j])
    h2, c2, _, _, _, _, _ = _LANE_STEP(0, gh, gi, c)
    return h2, c2


@kernel
def sequence_grad(p, loss, toks, start, T, S, grad):
    """Forward + BPTT on the word toks[start:start+T]; writes dL/dparams to grad[:24].

    S: (>= T, >= 8) scratch (columns h, c, i, f, g, o, tanh c, dL/dh from the readout).
    -> the mean loss. Gradients are summed in local registers, last step first.
    """
    n = 2 * T
    wo0, wo1, bo0, bo1 = p[20], p[21], p[22], p[23]
    whi, whf, whg, who = p[8], p[9], p[10], p[11]
    h = 0.0
    c = 0.0
    depth = 0
    total = 0.0
    gwo0 = gwo1 = gbo0 = gbo1 = 0.0
    for t in range(T):
        k = toks[start + t]
        depth += 1 - 2 * k
        h, c, i, f, g, o, tc = step(p, k, h, c)
        l0, l1, dz0, dz1 = readout_grad(loss, h, depth, wo0, wo1, bo0, bo1, n)
        total += l0
        total += l1
        gwo0 += dz0 * h
        gwo1 += dz1 * h
        gbo0 += dz0
        gbo1 += dz1
        S[t, 0] = h
        S[t, 1] = c
        S[t, 2] = i
        S[t, 3] = f
        S[t, 4] = g
        S[t, 5] = o
        S[t, 6] = tc
        S[t, 7] = dz0 * wo0 + dz1 * wo1
    gi0 = gi1 = gf0 = gf1 = gg0 = gg1 = go0 = go1 = 0.0
    ghi = ghf = ghg = gho = gbi = gbf = gbg = gbo = 0.0
    dh = 0.0
    dc = 0.0
    for t in range(T - 1, -1, -1):
        k = toks[start + t]
        h_prev = S[t - 1, 0] if t > 0 else 0.0
        c_prev = S[t - 1, 1] if t > 0 else 0.0
        i, f, g, o, tc = S[t, 2], S[t, 3], S[t, 4], S[t, 5], S[t, 6]
        dh += S[t, 7]
        do = dh * tc
        dc = dc + dh * o * (1.0 - tc * tc)
        da_i = dc * g * i * (1.0 - i)
        da_f = dc * c_prev * f * (1.0 - f)
        da_g = dc * i * (1.0 - g * g)
        da_o = do * o * (1.0 - o)
        gi0 += 0.0 if k else da_i
        gi1 += da_i if k else 0.0
        gf0 += 0.0 if k else da_f
        gf1 += da_f if k else 0.0
        gg0 += 0.0 if k else da_g
        gg1 += da_g if k else 0.0
        go0 += 0.0 if k else da_o
        go1 += da_o if k else 0.0
        ghi += da_i * h_prev
        ghf += da_f * h_prev
        ghg += da_g * h_prev
        gho += da_o * h_prev
        gbi += da_i
        gbf += da_f
        gbg += da_g
        gbo += da_o
        dh = da_i * whi + da_f * whf + da_g * whg + da_o * who
        dc = dc * f
    grad[0], grad[1], grad[2], grad[3] = gi0, gi1, gf0, gf1
    grad[4], grad[5], grad[6], grad[7] = gg0, gg1, go0, go1
    grad[8], grad[9], grad[10], grad[11] = ghi, ghf, ghg, gho
    grad[12], grad[13], grad[14], grad[15] = gbi, gbf, gbg, gbo
    grad[16], grad[17], grad[18], grad[19] = gbi, gbf, gbg, gbo
    grad[20], grad[21], grad[22], grad[23] = gwo0, gwo1, gbo0, gbo1
    return total / n
