"""LSTM cell, hidden size H > 1: one word's forward + BPTT (training); see `multicell`.

torch's nn.LSTM, gates i f g o (rows q*H + u of the (4H, .) weights), token k:
    a = (W_hh h + b_hh) + (W_ih[:, k] + b_ih)
    i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g);  c' = f * c + i * g;  h' = o * tanh(c')
All four gates go through one sigmoid loop: the g rows of W_hh^T and of the constant term
are doubled once per word (exact: a power of two), and g = 2 sigmoid(2 a_g) - 1 (within
3.4e-16 of tanh, measured). The backward pass halves the g rows' share of W_hh^T D again (exact).

The cell is `counting.cells.lstm` (the one definition), but this kernel keeps its own form of
the step, written over gate rows (one sigmoid loop over all 4H rows, the g trick above) so
that LLVM vectorizes it; it is held to torch within 1e-12 (loss and gradient) by
tests/test_cell_conformance.py.
"""

from __future__ import annotations

from counting.engine.intrinsics import fma
from counting.engine.jit import borrowing, inline
from counting.engine.mathfn import vsigmoid, vtanh
from counting.engine.multicell import (
    preactivations,
    readout_pass,
    setup,
    trajectory,
    weight_pass,
    write_grad,
)

G = 4
PER_STEP = 13  # x H trajectory values per step: h, c, tanh(c), dL/dh (readout), i f g o, D


@inline
def double_g_rows(WT, A0, H):
    """Double the g gate's rows of WT (H, 4H) and A0 (2, 4H) in place."""
    for r in range(2 * H, 3 * H):
        A0[0, r] *= 2.0
        A0[1, r] *= 2.0
        for u in range(H):
            WT[u, r] *= 2.0


@inline
def forward(WT, A0, A, Hs, Cs, TC, Gs, toks, start, T, H):
    """Pass 1: states Hs, Cs, tanh(c) TC and activations Gs of every step (rows t + 1).
    WT, A0: with the g rows doubled (`double_g_rows`)."""
    R = G * H
    for t in range(T):
        k = toks[start + t]
        preactivations(WT, A0, A, Hs, k, t, R, H)
        for r in range(R):
            Gs[t + 1, r] = vsigmoid(A[r])
        for u in range(H):
            g = 2.0 * Gs[t + 1, 2 * H + u] - 1.0
            Gs[t + 1, 2 * H + u] = g
            Cs[t + 1, u] = Gs[t + 1, H + u] * Cs[t, u] + Gs[t + 1, u] * g
        for u in range(H):
            TC[t + 1, u] = vtanh(Cs[t + 1, u])
        for u in range(H):
            Hs[t + 1, u] = Gs[t + 1, 3 * H + u] * TC[t + 1, u]


@inline
def backward(WT, dH, dC, Cs, TC, Gs, DHR, Ds, T, H):
    """Pass 3: dL/d(pre-activations) Ds of every step, last step first; DHR: dL/dh from the
    readout. WT: with the g rows doubled."""
    for t in range(T - 1, -1, -1):
        for u in range(H):
            dh = dH[u] + DHR[t + 1, u]
            i = Gs[t + 1, u]
            f = Gs[t + 1, H + u]
            g = Gs[t + 1, 2 * H + u]
            o = Gs[t + 1, 3 * H + u]
            tc = TC[t + 1, u]
            dc = dC[u] + dh * o * (1.0 - tc * tc)
            Ds[t + 1, u] = dc * g * i * (1.0 - i)
            Ds[t + 1, H + u] = dc * Cs[t, u] * f * (1.0 - f)
            Ds[t + 1, 2 * H + u] = dc * i * (1.0 - g * g)
            Ds[t + 1, 3 * H + u] = dh * tc * o * (1.0 - o)
            dC[u] = dc * f
        for u in range(H):  # dh_{t-1} = W_hh^T D, summed per gate, then over the gates
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for j in range(H):
                a0 = fma(WT[u, j], Ds[t + 1, j], a0)
                a1 = fma(WT[u, H + j], Ds[t + 1, H + j], a1)
                a2 = fma(WT[u, 2 * H + j], Ds[t + 1, 2 * H + j], a2)
                a3 = fma(WT[u, 3 * H + j], Ds[t + 1, 3 * H + j], a3)
            dH[u] = (a0 + a1) + (0.5 * a2 + a3)


@borrowing
def sequence_grad(p, loss, toks, start, T, S, grad, H):
    """Forward + BPTT on toks[start:start+T]; writes dL/dparams to grad[:n_params]. S: the
    scratch, flat size >= multicell.work_size(4, H, 13H, T). -> the mean loss."""
    R = G * H
    WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, rest = setup(p, S, G, H, R)
    Hs, rest = trajectory(rest, T, H)
    Cs, rest = trajectory(rest, T, H)
    TC, rest = trajectory(rest, T, H)
    DHR, rest = trajectory(rest, T, H)
    Gs, rest = trajectory(rest, T, R)  # activations i f g o
    Ds, rest = trajectory(rest, T, R)  # dL/d(pre-activations)
    double_g_rows(WT, A0, H)
    forward(WT, A0, A, Hs, Cs, TC, Gs, toks, start, T, H)
    total, gbo0, gbo1 = readout_pass(p, G, H, Hs, DHR, gWo, toks, start, T, loss)
    backward(WT, dH, dC, Cs, TC, Gs, DHR, Ds, T, H)
    weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Ds, Ds, R, H)
    write_grad(grad, gX, gWT, gbi, gbh, gWo, gbo0, gbo1, G, H)
    return total / (2 * T)
