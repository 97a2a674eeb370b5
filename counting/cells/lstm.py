"""The LSTM cell's step and its derivative, written once, generic in the arithmetic.

torch's CPU order (aten RNN.cpp, LSTMCell), gates i f g o (`registry.LSTM`), token k:
    a_q = gh_q + gi_q,   gh = W_hh h + b_hh (the recurrent term), gi = W_ih[:, k] + b_ih
    i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
    c' = f c + i g;  h' = o tanh(c')

`make_step(sigmoid, tanh)` -> step(env, gh, gi, c) -> (h', c', i, f, g, o, tanh(c')):
gh, gi index the G = 4 per-gate terms (scalars, arrays, tensors, sympy expressions,
intervals: whatever the activations take and `+`, `*` combine); the activations are
called as sigmoid(env, x), tanh(env, x), so that a compiled consumer can pass what they
need at run time (e.g. the address of torch's tanh, `counting.unrolled`); Python
arithmetics ignore env (`counting.cells.arith`). The consumer computes the terms: at hidden
size 1 `W_hh[q] h + b_hh[q]` and `W_ih[q, k] + b_ih[q]` (indices: `counting.cells.layout`);
at H > 1 the recurrent term is a matrix product whose summation order is the consumer's.

A consumer that must activate all gates in one call (torch's vectorized kernel on a
(..., 4) block gives other bits than on per-gate slices) uses the parts the step is made
of: `cell_state`, `output`.

`make_backward()` -> backward(one, dh, dc, i, f, g, o, tc, c_prev)
    -> (da_i, da_f, da_g, da_o, dc_prev): dh, dc the loss's derivatives in h' and c' (dh
including the readout's share), in torch's backward order (sigmoid' as `dy (1 - y) y`,
tanh' as `dy (1 - y^2)`, from the outputs). `one`: 1 in the consumer's number type.
dh_prev = W_hh^T da (for H = 1: `recurrent_back`).
"""

from __future__ import annotations


def cell_state(c, i, f, g):
    """c' from c and the gates."""
    return f * c + i * g


def output(o, tc):
    """h' from the output gate and tanh(c')."""
    return o * tc


def make_step(sigmoid, tanh, jit=None):
    """The step over the given activations; `jit` compiles the parts for a compiled
    consumer (e.g. cuda.jit(device=True)), which then compiles the step itself."""
    comb, out = (cell_state, output) if jit is None else (jit(cell_state), jit(output))

    def step(env, gh, gi, c):
        i = sigmoid(env, gh[0] + gi[0])
        f = sigmoid(env, gh[1] + gi[1])
        g = tanh(env, gh[2] + gi[2])
        o = sigmoid(env, gh[3] + gi[3])
        c2 = comb(c, i, f, g)
        tc = tanh(env, c2)
        return out(o, tc), c2, i, f, g, o, tc

    return step


def make_backward():
    def backward(one, dh, dc, i, f, g, o, tc, c_prev):
        dc = dc + (dh * o) * (one - tc * tc)
        da_i = ((dc * g) * (one - i)) * i
        da_f = ((dc * c_prev) * (one - f)) * f
        da_g = (dc * i) * (one - g * g)
        da_o = ((dh * tc) * (one - o)) * o
        return da_i, da_f, da_g, da_o, dc * f

    return backward


def recurrent_back(w, da_i, da_f, da_g, da_o):
    """dL/dh_prev at hidden size 1: sum_q da_q W_hh[q], in gate order."""
    return da_i * w[0] + da_f * w[1] + da_g * w[2] + da_o * w[3]
