"""GRU cell, hidden size H > 1: one word's forward + BPTT (training); see `multicell`.

torch's nn.GRU, gates r z n (rows q*H + u of the (3H, .) weights), token k:
    r = sigmoid((W_hr h + b_hr) + (W_ir[:, k] + b_ir))      (z likewise)
    n = tanh((W_in[:, k] + b_in) + r * (W_hn h + b_hn));   h' = (h - n) * z + n

The cell is `counting.cells.gru` (the one definition); this kernel keeps its own form,
written over gate rows so that LLVM vectorizes each phase, with the backward products in
its own order; held to torch within 1e-12 (loss and gradient) by
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

G = 3
PER_STEP = 12  # x H trajectory values per step: h, W_hn h + b_hn, dL/dh (readout), r z n,
# dL/d(input pre-activations) and dL/d(recurrent pre-activations)


@inline
def forward(WT, X, A0, A, Hs, HN, Gs, toks, start, T, H):
    """Pass 1: states Hs, W_hn h + b_hn (HN) and activations Gs of every step (rows t + 1)."""
    R = G * H
    for t in range(T):
        k = toks[start + t]
        preactivations(WT, A0, A, Hs, k, t, R, H)
        for r in range(2 * H):
            Gs[t + 1, r] = vsigmoid(A[r])
        for u in range(H):
            HN[t + 1, u] = A[2 * H + u]
        for u in range(H):
            Gs[t + 1, 2 * H + u] = vtanh(X[k, 2 * H + u] + Gs[t + 1, u] * HN[t + 1, u])
        for u in range(H):
            n = Gs[t + 1, 2 * H + u]
            Hs[t + 1, u] = (Hs[t, u] - n) * Gs[t + 1, H + u] + n


@inline
def backward(WT, dH, Hs, HN, Gs, DHR, Dih, Dhh, T, H):
    """Pass 3: dL/d(input pre-activations) Dih and dL/d(recurrent pre-activations) Dhh of
    every step, last step first; DHR: dL/dh from the readout."""
    for t in range(T - 1, -1, -1):
        for u in range(H):
            dh = dH[u] + DHR[t + 1, u]
            r = Gs[t + 1, u]
            z = Gs[t + 1, H + u]
            n = Gs[t + 1, 2 * H + u]
            da_z = dh * (Hs[t, u] - n) * z * (1.0 - z)
            da_n = dh * (1.0 - z) * (1.0 - n * n)
            da_r = da_n * HN[t + 1, u] * r * (1.0 - r)
            Dih[t + 1, u] = da_r
            Dih[t + 1, H + u] = da_z
            Dih[t + 1, 2 * H + u] = da_n
            Dhh[t + 1, u] = da_r
            Dhh[t + 1, H + u] = da_z
            Dhh[t + 1, 2 * H + u] = da_n * r
            dH[u] = dh * z
        for u in range(H):  # dh_{t-1} = dh z + W_hh^T Dhh, summed per gate, then over gates
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for j in range(H):
                a0 = fma(WT[u, j], Dhh[t + 1, j], a0)
                a1 = fma(WT[u, H + j], Dhh[t + 1, H + j], a1)
                a2 = fma(WT[u, 2 * H + j], Dhh[t + 1, 2 * H + j], a2)
            dH[u] = dH[u] + ((a0 + a1) + a2)


@borrowing
def sequence_grad(p, loss, toks, start, T, S, grad, H):
    """Forward + BPTT on toks[start:start+T]; writes dL/dparams to grad[:n_params]. S: the
    scratch, flat size >= multicell.work_size(3, H, 12H, T). -> the mean loss."""
    R = G * H
    WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, rest = setup(p, S, G, H, 2 * H)
    Hs, rest = trajectory(rest, T, H)
    HN, rest = trajectory(rest, T, H)
    DHR, rest = trajectory(rest, T, H)
    Gs, rest = trajectory(rest, T, R)  # activations r z n
    Dih, rest = trajectory(rest, T, R)
    Dhh, rest = trajectory(rest, T, R)
    forward(WT, X, A0, A, Hs, HN, Gs, toks, start, T, H)
    total, gbo0, gbo1 = readout_pass(p, G, H, Hs, DHR, gWo, toks, start, T, loss)
    backward(WT, dH, Hs, HN, Gs, DHR, Dih, Dhh, T, H)
    weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Dih, Dhh, R, H)
    write_grad(grad, gX, gWT, gbi, gbh, gWo, gbo0, gbo1, G, H)
    return total / (2 * T)
