"""GRU cell, hidden size 1: a forward step, and one word's forward + BPTT.

torch's CPU order (aten RNN.cpp, GRUCell), gates r z n:
    r = sigmoid((W_hh[r] h + b_hh[r]) + (W_ih[r, k] + b_ih[r]))      (z likewise)
    n = tanh((W_ih[n, k] + b_ih[n]) + r * (W_hh[n] h + b_hh[n]))
    h' = (h - n) * z + n
Parameter indices follow `layout`: W_ih 2q+k, W_hh 6+q, b_ih 9+q, b_hh 12+q, W_out 15+j,
b_out 17+j (q = 0 r, 1 z, 2 n).

`step` and `lane_step` are `counting.cells.gru`'s step (the one definition) over the
engine's activations. `sequence_grad`'s backward pass keeps its own order of the products
(e.g. dh (1 - z) (1 - n^2), where the definition has torch's (dh - dh z) (1 - n^2)): it is
what every checkpoint and history of the engine was made with; it is held to torch within
1e-12 by tests/test_cell_conformance.py.
"""

from __future__ import annotations

from counting.engine.jit import inline, kernel
from counting.engine.losses import readout_grad
from counting.engine.steps import GRU_LANE_STEP as _LANE_STEP
from counting.engine.steps import GRU_STEP as _STEP


@inline
def step(p, k, h):
    """-> (h', r, z, n, W_hh[n] h + b_hh[n])."""
    gh = (p[6] * h + p[12], p[7] * h + p[13], p[8] * h + p[14])
    gi = (p[k] + p[9], p[2 + k] + p[10], p[4 + k] + p[11])
    h2, r, z, n = _STEP(0, gh, gi, h)
    return h2, r, z, n, gh[2]


@inline
def lane_step(PT, j, k, h):
    """`step` for the model in column j of PT (P_MAX, lanes), with the branch-free
    activations of the evaluation kernel -> h'."""
    gh = (PT[6, j] * h + PT[12, j], PT[7, j] * h + PT[13, j], PT[8, j] * h + PT[14, j])
    gi = (PT[k, j] + PT[9, j], PT[2 + k, j] + PT[10, j], PT[4 + k, j] + PT[11, j])
    h2, _, _, _ = _LANE_STEP(0, gh, gi, h)
    return h2


@kernel
def sequence_grad(p, loss, toks, start, T, S, grad):
    """Forward + BPTT on the word toks[start:start+T]; writes dL/dparams to grad[:19].

    S: (>= T, >= 6) scratch (columns h, r, z, n, hn, dL/dh from the readout).
    -> the mean loss. Gradients are summed in local registers, last step first.
    """
    n_out = 2 * T
    wo0, wo1, bo0, bo1 = p[15], p[16], p[17], p[18]
    whr, whz, whn = p[6], p[7], p[8]
    h = 0.0
    depth = 0
    total = 0.0
    gwo0 = gwo1 = gbo0 = gbo1 = 0.0
    for t in range(T):
        k = toks[start + t]
        depth += 1 - 2 * k
        h, r, z, nn, hn = step(p, k, h)
        l0, l1, dz0, dz1 = readout_grad(loss, h, depth, wo0, wo1, bo0, bo1, n_out)
        total += l0
        total += l1
        gwo0 += dz0 * h
        gwo1 += dz1 * h
        gbo0 += dz0
        gbo1 += dz1
        S[t, 0] = h
        S[t, 1] = r
        S[t, 2] = z
        S[t, 3] = nn
        S[t, 4] = hn
        S[t, 5] = dz0 * wo0 + dz1 * wo1
    gr0 = gr1 = gz0 = gz1 = gn0 = gn1 = 0.0
    ghr = ghz = ghn = gbr = gbz = gbn = gbhn = 0.0
    dh = 0.0
    for t in range(T - 1, -1, -1):
        k = toks[start + t]
        h_prev = S[t - 1, 0] if t > 0 else 0.0
        r, z, nn, hn = S[t, 1], S[t, 2], S[t, 3], S[t, 4]
        dh += S[t, 5]
        da_z = dh * (h_prev - nn) * z * (1.0 - z)
        da_n = dh * (1.0 - z) * (1.0 - nn * nn)
        da_r = da_n * hn * r * (1.0 - r)
        dhn = da_n * r
        gr0 += 0.0 if k else da_r
        gr1 += da_r if k else 0.0
        gz0 += 0.0 if k else da_z
        gz1 += da_z if k else 0.0
        gn0 += 0.0 if k else da_n
        gn1 += da_n if k else 0.0
        ghr += da_r * h_prev
        ghz += da_z * h_prev
        ghn += dhn * h_prev
        gbr += da_r
        gbz += da_z
        gbn += da_n
        gbhn += dhn
        dh = dh * z + da_r * whr + da_z * whz + dhn * whn
    grad[0], grad[1], grad[2], grad[3], grad[4], grad[5] = gr0, gr1, gz0, gz1, gn0, gn1
    grad[6], grad[7], grad[8] = ghr, ghz, ghn
    grad[9], grad[10], grad[11] = gbr, gbz, gbn
    grad[12], grad[13], grad[14] = gbr, gbz, gbhn
    grad[15], grad[16], grad[17], grad[18] = gwo0, gwo1, gbo0, gbo1
    return total / n_out
