"""Shared parts of the hidden-size H > 1 training kernels (`lstm_h`, `relu_h`, `gru_h`).

Parameters: the flat vector of `layout` (torch's order); with R = G*H gate rows (row q*H + u:
gate q, unit u)
    W_ih (R, 2) at 0;  W_hh (R, H) at 2R;  b_ih (R,) at 2R + RH;  b_hh (R,) at 3R + RH;
    W_out (2, H) at 4R + RH;  b_out (2,) at 4R + RH + 2H.
A word's kernel runs in four passes over its T steps:
    1. forward recurrence (the cell's kernel): states and gate activations of every step;
    2. `readout_pass`: outputs, losses, dL/dW_out and dL/dh from the readout at every step;
    3. backward recurrence (the cell's kernel): dL/d(pre-activations) of every step;
    4. `weight_pass`: the weight and bias gradients from those, then `write_grad`.
Only 1 and 3 are sequential in t; 2 and 4 keep the arithmetic off the recurrences' path.

Work arrays: views into the word's scratch S (seen flat), made once per word by `setup`:
    WT (H, R)    W_hh transposed: the gates' matrix-vector product runs along rows r, one
                 SIMD vector of gates per input unit u: a = A0[k] + sum_u WT[u] h[u]
    X (2, R)     W_ih[:, k] + b_ih: token k's input term (the input is one-hot)
    A0 (2, R)    the constant part of token k's pre-activations, b_hh + X[k] (the GRU's
                 n rows keep b_hh alone: its input term is added after the reset gate)
    gWT (H, R), gX (2, R), gbi (R,), gbh (R,), gWo (2, H): gradient accumulators
    A (R,), dH, dC (H,): a step's pre-activations, the backward pass's dL/dh and dL/dc
    rest         the remaining values, cut into the cell's trajectory by `trajectory`

Speed. H is a run-time value and every inner loop runs over a contiguous row with no
loop-carried dependence, so LLVM vectorizes it (with a run-time overlap check: numba tells
it nothing about aliasing). Loops of constant length would be unrolled into scalar code
instead (numba leaves LLVM's SLP vectorizer off), and compiling one kernel per H took
minutes (measured again: one kernel per H, H a constant, is 10-25% slower, with or without
numba's SLP vectorizer). Arrays are never passed to helpers inside the per-step loops: each
such call costs reference-count updates (measured: a third of the time). The cells' kernels
are compiled `jit.borrowing` (no reference counting at all; 5-25% faster, bit-identical).

Arithmetic. Sums over units run in an order of our own (fused multiply-adds; the gradient
through W_hh summed per gate, then over gates), not MKL's, so results agree with torch to
rounding, not bit for bit; activations are `mathfn`'s vectorizable vsigmoid and vtanh
(within 2 ulps and 3e-16 of torch's; the LSTM's g gate 2 vsigmoid(2a) - 1, see `lstm_h`).
"""

from __future__ import annotations

from counting.engine.intrinsics import fma
from counting.engine.jit import inline
from counting.engine.losses import train_term
from counting.engine.mathfn import vsigmoid


@inline
def work_size(G, H, per_step, T):
    """Flat scratch values `setup` and a trajectory of T steps x per_step values need (also
    callable from Python)."""
    R = G * H
    return 2 * H * R + 9 * R + 4 * H + (T + 1) * per_step


@inline
def setup(p, S, G, H, n_rows_plain):
    """The work arrays (see the module docstring): WT, X and A0 filled from p, the rest
    zeroed. Rows r >= n_rows_plain of A0 hold b_hh alone (the GRU's n gate; else pass R)."""
    R = G * H
    oWhh = 2 * R
    obih = oWhh + R * H
    obhh = obih + R
    s = S.reshape(-1)
    o = 0
    WT = s[o : o + H * R].reshape((H, R))
    o += H * R
    X = s[o : o + 2 * R].reshape((2, R))
    o += 2 * R
    A0 = s[o : o + 2 * R].reshape((2, R))
    o += 2 * R
    gWT = s[o : o + H * R].reshape((H, R))
    o += H * R
    gX = s[o : o + 2 * R].reshape((2, R))
    o += 2 * R
    gbi = s[o : o + R]
    o += R
    gbh = s[o : o + R]
    o += R
    gWo = s[o : o + 2 * H].reshape((2, H))
    o += 2 * H
    A = s[o : o + R]
    o += R
    dH = s[o : o + H]
    o += H
    dC = s[o : o + H]
    o += H
    for u in range(H):
        for r in range(R):
            WT[u, r] = p[oWhh + r * H + u]
            gWT[u, r] = 0.0
        dH[u] = 0.0
        dC[u] = 0.0
        gWo[0, u] = 0.0
        gWo[1, u] = 0.0
    for r in range(R):
        b = p[obih + r]
        X[0, r] = p[2 * r] + b
        X[1, r] = p[2 * r + 1] + b
        if r < n_rows_plain:
            A0[0, r] = p[obhh + r] + X[0, r]
            A0[1, r] = p[obhh + r] + X[1, r]
        else:
            A0[0, r] = p[obhh + r]
            A0[1, r] = p[obhh + r]
        gX[0, r] = 0.0
        gX[1, r] = 0.0
        gbi[r] = 0.0
        gbh[r] = 0.0
    return WT, X, A0, gWT, gX, gbi, gbh, gWo, A, dH, dC, s[o:]


@inline
def trajectory(rest, T, width):
    """The next (T + 1, width) block of `rest`, row 0 (the initial state) zeroed, and what
    is left after it. Row t + 1 belongs to step t."""
    block = rest[: (T + 1) * width].reshape((T + 1, width))
    for j in range(width):
        block[0, j] = 0.0
    return block, rest[(T + 1) * width :]


@inline
def preactivations(WT, A0, A, Hs, k, t, R, H):
    """A (R,) = A0[k] + W_hh h_t, h_t = Hs[t] (H,), WT = W_hh transposed (H, R): the gates'
    pre-activations of one step, four units per pass (fewer loads and stores of A; each
    A[r] still sums in unit order, so the result does not depend on the grouping)."""
    for r in range(R):
        A[r] = A0[k, r]
    for u in range(0, H - 3, 4):
        h0 = Hs[t, u]
        h1 = Hs[t, u + 1]
        h2 = Hs[t, u + 2]
        h3 = Hs[t, u + 3]
        for r in range(R):
            a = fma(WT[u, r], h0, A[r])
            a = fma(WT[u + 1, r], h1, a)
            a = fma(WT[u + 2, r], h2, a)
            A[r] = fma(WT[u + 3, r], h3, a)
    for u in range(H - H % 4, H):
        hu = Hs[t, u]
        for r in range(R):
            A[r] = fma(WT[u, r], hu, A[r])


@inline
def readout_pass(p, G, H, Hs, DHR, gWo, toks, start, T, loss):
    """Pass 2. At each step t (h = Hs[t + 1]): z_j = sum_u W_out[j, u] h[u] + b_out[j],
    p_j = sigmoid(z_j) against targets [1, depth > 0], mean over the 2T outputs. Adds
    dL/dW_out to gWo, writes dL/dh = dz_0 W_out[0] + dz_1 W_out[1] to DHR[t + 1];
    -> (sum of the loss terms, dL/db_out[0], dL/db_out[1])."""
    R = G * H
    oWo = 4 * R + R * H
    n = 2 * T
    depth = 0
    total = 0.0
    gbo0 = 0.0
    gbo1 = 0.0
    for t in range(T):
        depth += 1 - 2 * toks[start + t]
        z0 = 0.0
        z1 = 0.0
        for u in range(H):
            z0 = fma(p[oWo + u], Hs[t + 1, u], z0)
            z1 = fma(p[oWo + H + u], Hs[t + 1, u], z1)
        p0 = vsigmoid(z0 + p[oWo + 2 * H])
        p1 = vsigmoid(z1 + p[oWo + 2 * H + 1])
        l0, d0 = train_term(loss, p0, 1.0, n)
        l1, d1 = train_term(loss, p1, 1.0 if depth > 0 else 0.0, n)
        dz0 = d0 * (1.0 - p0) * p0
        dz1 = d1 * (1.0 - p1) * p1
        total += l0
        total += l1
        gbo0 += dz0
        gbo1 += dz1
        for u in range(H):
            gWo[0, u] += dz0 * Hs[t + 1, u]
            gWo[1, u] += dz1 * Hs[t + 1, u]
            DHR[t + 1, u] = dz0 * p[oWo + u] + dz1 * p[oWo + H + u]
    return total, gbo0, gbo1


@inline
def weight_pass(gX, gbi, gbh, gWT, toks, start, T, Hs, Dih, Dhh, R, H):
    """Pass 4, last step first (as torch's autograd accumulates): Dih[t + 1] = dL/d(input
    pre-activations) of step t into gX[k_t] and gbi; Dhh[t + 1] = dL/d(recurrent
    pre-activations) into gbh and, times h_{t-1} = Hs[t], into gWT."""
    for t in range(T - 1, -1, -1):
        k = toks[start + t]
        for r in range(R):
            gX[k, r] += Dih[t + 1, r]
            gbi[r] += Dih[t + 1, r]
            gbh[r] += Dhh[t + 1, r]
        for u in range(H):
            hu = Hs[t, u]
            for r in range(R):
                gWT[u, r] += Dhh[t + 1, r] * hu


@inline
def write_grad(grad, gX, gWT, gbi, gbh, gWo, gbo0, gbo1, G, H):
    """The accumulators -> grad[:n_params] in torch's parameter order."""
    R = G * H
    oWhh = 2 * R
    obih = oWhh + R * H
    obhh = obih + R
    oWo = obhh + R
    for r in range(R):
        grad[2 * r] = gX[0, r]
        grad[2 * r + 1] = gX[1, r]
        grad[obih + r] = gbi[r]
        grad[obhh + r] = gbh[r]
    for r in range(R):
        for u in range(H):
            grad[oWhh + r * H + u] = gWT[u, r]
    for u in range(H):
        grad[oWo + u] = gWo[0, u]
        grad[oWo + H + u] = gWo[1, u]
    grad[oWo + 2 * H] = gbo0
    grad[oWo + 2 * H + 1] = gbo1
