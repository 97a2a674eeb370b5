"""ReLU-RNN cell, hidden size H > 1: one word's forward + BPTT (training); see `multicell`.

torch's nn.RNN(nonlinearity="relu"), token k: a = (W_hh h + b_hh) + (W_ih[:, k] + b_ih);
h' = max(a, 0). The gradient passes where h' > 0 (torch's threshold_backward).

The cell is `counting.cells.relu` (the one definition); this kernel keeps its own form,
written over rows so that LLVM vectorizes it; held to torch within 1e-12 (loss and
gradient) by tests/test_cell_conformance.py.
"""

from __future__ import annotations

from counting.engine.intrinsics import fma
from counting.engine.jit import borrowing, inline
from counting.engine.multicell import (
    preactivations,
    readout_pass,
    setup,
    trajectory,
    weight_pass,
    write_grad,
)

G = 1
PER_STEP = 3  # x H trajectory values per step: h, dL/dh (readout), D


@inline
def forward(WT, A0, A, Hs, toks, start, T, H):
    """Pass 1: the states Hs of every step (rows t + 1)."""
    for t in range(T):
        k = toks[start + t]
        preactivations(WT, A0, A, Hs, k, t, H, H)
        for r in range(H):
            Hs[t + 1, r] = A[r] if A[r] > 0.0 else 0.0


@inline
def backward(WT, dH, Hs, DHR, Ds, T, H):
    """Pass 3: dL/d(pre-activations) Ds of every step, last step first; DHR: dL/dh from the
    readout."""
    for t in range(T - 1, -1, -1):
        for u in range(H):
            dh = dH[u] + DHR[t + 1, u]
            Ds[t + 1, u] = dh if Hs[t + 1, u] > 0.0 else 0.0
        for u in range(H):  # dh_{t-1} = W_hh^T D
            a = 0.0
            for j in range(H):
                a = fma(WT[u, j], Ds[t + 1, j], a)
            dH[u] = a


@borrowing
def sequence_grad(p, loss, toks, start, T, S, grad, H):
    """Forward + BPTT on toks[start:start+T]; writes dL/dparams to grad[:n_params]. S: the
    scratch, flat size >= multicell.work_size(1, H, 3H, T). -> the mean loss."""
    WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, rest = setup(p, S, G, H, H)
    Hs, rest = trajectory(rest, T, H)
    DHR, rest = trajectory(rest, T, H)
    Ds, rest = trajectory(rest, T, H)
    forward(WT, A0, A, Hs, toks, start, T, H)
    total, gbo0, gbo1 = readout_pass(p, G, H, Hs, DHR, gWo, toks, start, T, loss)
    backward(WT, dH, Hs, DHR, Ds, T, H)
    weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Ds, Ds, H, H)
    write_grad(grad, gX, gWT, gbi, gbh, gWo, gbo0, gbo1, G, H)
    return total / (2 * T)
