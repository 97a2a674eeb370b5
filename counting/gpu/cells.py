"""Per-thread cell math for hidden size 1: one sequence's forward, loss and BPTT, and one step.

`make_cell(cell, num, loss, cuda)` returns CUDA device functions (plain Python on the
simulator) for ONE model held by one thread:

    train_seq(w, g, tokens, start, L, st, scale) -> mean loss of the sequence (kernel dtype)
        w (P,) weights, g (P,) gradients (zeroed by the caller, accumulated here),
        tokens[start:start+L] the sequence (int8, 0 '(' / 1 ')'), st (MAXLEN, K) scratch for
        the per-step values BPTT needs; scale = cast(2/(2L)) (MSE) or cast(2L) (BCE).
    step(w, tok, h, c) -> (h, c)        one recurrent step (c is unused but for the LSTM)
    K                                   the scratch width

The cells' steps and derivatives are those of `counting.cells` (`lstm`, `gru`, `relu`: the
one definition), compiled here as device functions over this kernel's activations. The
arithmetic follows torch's CPU RNN cells operation by operation: gates are
`(W_hh h + b_hh) + (W_ih[:, tok] + b_ih)`; LSTM gates i f g o, `c = f c + i g`, `h = o tanh c`;
GRU r z n with `n = tanh(ih_n + r (W_hn h + b_hn))` and `h' = (h - n) z + n`; ReLU's backward
passes the gradient where h > 0; sigmoid'/tanh' use the outputs as torch's backward kernels do
(`dy (1 - y) y`, `dy (1 - y^2)`). Sums over time are accumulated in reverse time order.
"""

from __future__ import annotations

from counting.cells import gru as cells_gru
from counting.cells import lstm as cells_lstm
from counting.cells import relu as cells_relu
from counting.gpu.params import offsets


def make_cell(cell: str, num, loss: str, cuda):
    dev = cuda.jit(device=True)
    o = offsets(cell)
    WIH, WHH, BIH, BHH, WR, BR = o["wih"], o["whh"], o["bih"], o["bhh"], o["wr"], o["br"]
    ZERO, ONE = num.ZERO, num.ONE
    cast, exp, tanh_, log, log1p = num.cast, num.exp, num.tanh, num.log, num.log1p
    LOG_FLOOR, BCE_EPS = num.LOG_FLOOR, num.BCE_EPS

    @dev
    def sigmoid(x):
        return ONE / (ONE + cast(exp(-x)))

    @dev
    def tanh(x):
        return cast(tanh_(x))

    @dev
    def act_sigmoid(env, x):
        return sigmoid(x)

    @dev
    def act_tanh(env, x):
        return tanh(x)

    @dev
    def act_relu(env, x):
        return x if (x > ZERO or x != x) else ZERO  # relu, NaN propagates

    if loss == "mse":

        @dev
        def out_term(y, t, scale):
            d = y - t
            return d * d, ((scale * d) * (ONE - y)) * y

    elif loss == "bce":

        @dev
        def out_term(y, t, scale):
            a = cast(log1p(-y))
            a = LOG_FLOOR if a < LOG_FLOOR else a  # std::max(a, -100): NaN stays NaN
            b = cast(log(y))
            b = LOG_FLOOR if b < LOG_FLOOR else b
            den = (ONE - y) * y
            den = BCE_EPS if den < BCE_EPS else den
            gy = ((y - t) / den) / scale
            return (t - ONE) * a - t * b, (gy * (ONE - y)) * y

    else:
        raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")

    @dev
    def outputs(w, h, depth, scale):
        """Readout of h at a token after which the depth is `depth` -> (loss, gz0, gz1)."""
        y0 = sigmoid(h * w[WR] + w[BR])
        y1 = sigmoid(h * w[WR + 1] + w[BR + 1])
        l0, gz0 = out_term(y0, ONE, scale)
        l1, gz1 = out_term(y1, ONE if depth > 0 else ZERO, scale)
        return l0 + l1, gz0, gz1

    @dev
    def readout_back(w, g, h, gz0, gz1, dh_next):
        g[WR] += gz0 * h
        g[WR + 1] += gz1 * h
        g[BR] += gz0
        g[BR + 1] += gz1
        return dh_next + (gz0 * w[WR] + gz1 * w[WR + 1])

    @dev
    def wx(w, k, tok):
        """W_ih[k, tok] + b_ih[k], the input projection of a one-hot token (a select, not a
        computed index, so that w can stay in registers)."""
        return (w[WIH + 2 * k + 1] if tok != 0 else w[WIH + 2 * k]) + w[BIH + k]

    @dev
    def gate_back(g, k, tok, hp, d_ih, d_hh):
        if tok != 0:
            g[WIH + 2 * k + 1] += d_ih
        else:
            g[WIH + 2 * k] += d_ih
        g[BIH + k] += d_ih
        g[WHH + k] += d_hh * hp
        g[BHH + k] += d_hh

    if cell == "lstm":
        K = 9
        cell_step = dev(cells_lstm.make_step(act_sigmoid, act_tanh, jit=dev))
        cell_back = dev(cells_lstm.make_backward())
        h_back = dev(cells_lstm.recurrent_back)

        @dev
        def terms(w, tok, h):
            gh = (w[WHH] * h + w[BHH], w[WHH + 1] * h + w[BHH + 1],
                  w[WHH + 2] * h + w[BHH + 2], w[WHH + 3] * h + w[BHH + 3])
            gi = (wx(w, 0, tok), wx(w, 1, tok), wx(w, 2, tok), wx(w, 3, tok))
            return gh, gi

        @dev
        def step(w, tok, h, c):
            gh, gi = terms(w, tok, h)
            h, c, _, _, _, _, _ = cell_step(0, gh, gi, c)
            return h, c

        @dev
        def train_seq(w, g, tokens, start, L, st, scale):
            h = ZERO
            c = ZERO
            depth = 0
            lsum = ZERO
            for t in range(L):
                tok = int(tokens[start + t])
                gh, gi = terms(w, tok, h)
                h, c, i, f, gg, og, tc = cell_step(0, gh, gi, c)
                depth += 1 - 2 * tok
                lt, gz0, gz1 = outputs(w, h, depth, scale)
                lsum += lt
                st[t, 0] = i
                st[t, 1] = f
                st[t, 2] = gg
                st[t, 3] = og
                st[t, 4] = c
                st[t, 5] = tc
                st[t, 6] = h
                st[t, 7] = gz0
                st[t, 8] = gz1
            dh_next = ZERO
            dc_next = ZERO
            whh = (w[WHH], w[WHH + 1], w[WHH + 2], w[WHH + 3])
            for t in range(L - 1, -1, -1):
                tok = int(tokens[start + t])
                hp = st[t - 1, 6] if t > 0 else ZERO
                cp = st[t - 1, 4] if t > 0 else ZERO
                i, f, gg, og, tc = st[t, 0], st[t, 1], st[t, 2], st[t, 3], st[t, 5]
                dh = readout_back(w, g, st[t, 6], st[t, 7], st[t, 8], dh_next)
                da_i, da_f, da_g, da_o, dc_next = cell_back(ONE, dh, dc_next, i, f, gg, og, tc,
                                                            cp)
                gate_back(g, 0, tok, hp, da_i, da_i)
                gate_back(g, 1, tok, hp, da_f, da_f)
                gate_back(g, 2, tok, hp, da_g, da_g)
                gate_back(g, 3, tok, hp, da_o, da_o)
                dh_next = h_back(whh, da_i, da_f, da_g, da_o)
            return lsum / cast(2 * L)

    elif cell == "relu":
        K = 3
        cell_step = dev(cells_relu.make_step(act_relu))
        cell_back = dev(cells_relu.make_backward(ZERO))
        h_back = dev(cells_relu.recurrent_back)

        @dev
        def terms(w, tok, h):
            return (w[WHH] * h + w[BHH],), (wx(w, 0, tok),)

        @dev
        def step(w, tok, h, c):
            gh, gi = terms(w, tok, h)
            return cell_step(0, gh, gi)[0], c

        @dev
        def train_seq(w, g, tokens, start, L, st, scale):
            h = ZERO
            depth = 0
            lsum = ZERO
            for t in range(L):
                tok = int(tokens[start + t])
                gh, gi = terms(w, tok, h)
                h = cell_step(0, gh, gi)[0]
                depth += 1 - 2 * tok
                lt, gz0, gz1 = outputs(w, h, depth, scale)
                lsum += lt
                st[t, 0] = h
                st[t, 1] = gz0
                st[t, 2] = gz1
            dh_next = ZERO
            whh = (w[WHH],)
            for t in range(L - 1, -1, -1):
                tok = int(tokens[start + t])
                hp = st[t - 1, 0] if t > 0 else ZERO
                h = st[t, 0]
                dh = readout_back(w, g, h, st[t, 1], st[t, 2], dh_next)
                da = cell_back(dh, h)
                gate_back(g, 0, tok, hp, da, da)
                dh_next = h_back(whh, da)
            return lsum / cast(2 * L)

    elif cell == "gru":
        K = 7
        cell_step = dev(cells_gru.make_step(act_sigmoid, act_tanh, jit=dev))
        cell_back = dev(cells_gru.make_backward())
        h_back = dev(cells_gru.recurrent_back)

        @dev
        def terms(w, tok, h):
            gh = (w[WHH] * h + w[BHH], w[WHH + 1] * h + w[BHH + 1], w[WHH + 2] * h + w[BHH + 2])
            gi = (wx(w, 0, tok), wx(w, 1, tok), wx(w, 2, tok))
            return gh, gi

        @dev
        def step(w, tok, h, c):
            gh, gi = terms(w, tok, h)
            return cell_step(0, gh, gi, h)[0], c

        @dev
        def train_seq(w, g, tokens, start, L, st, scale):
            h = ZERO
            depth = 0
            lsum = ZERO
            for t in range(L):
                tok = int(tokens[start + t])
                gh, gi = terms(w, tok, h)
                h, r, z, n = cell_step(0, gh, gi, h)
                depth += 1 - 2 * tok
                lt, gz0, gz1 = outputs(w, h, depth, scale)
                lsum += lt
                st[t, 0] = r
                st[t, 1] = z
                st[t, 2] = n
                st[t, 3] = gh[2]
                st[t, 4] = h
                st[t, 5] = gz0
                st[t, 6] = gz1
            dh_next = ZERO
            whh = (w[WHH], w[WHH + 1], w[WHH + 2])
            for t in range(L - 1, -1, -1):
                tok = int(tokens[start + t])
                hp = st[t - 1, 4] if t > 0 else ZERO
                r, z, n, hn = st[t, 0], st[t, 1], st[t, 2], st[t, 3]
                dh = readout_back(w, g, st[t, 4], st[t, 5], st[t, 6], dh_next)
                da_r, da_z, da_n, dhn, dh_direct = cell_back(ONE, dh, hp, r, z, n, hn)
                gate_back(g, 0, tok, hp, da_r, da_r)
                gate_back(g, 1, tok, hp, da_z, da_z)
                gate_back(g, 2, tok, hp, da_n, dhn)
                dh_next = h_back(whh, dh_direct, da_r, da_z, dhn)
            return lsum / cast(2 * L)

    else:
        raise ValueError(f"unknown cell {cell!r}")

    return train_seq, step, sigmoid, K
