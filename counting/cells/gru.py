"""The GRU cell's step and its derivative, written once, generic in the arithmetic.

torch's CPU order (aten RNN.cpp, GRUCell), gates r z n (`registry.GRU`), token k:
    gh = W_hh h + b_hh,  gi = W_ih[:, k] + b_ih
    r = sigmoid(gh_r + gi_r);  z = sigmoid(gh_z + gi_z)
    n = tanh(gi_n + r gh_n);   h' = (h - n) z + n

`make_step(sigmoid, tanh)` -> step(env, gh, gi, h) -> (h', r, z, n) (see `lstm` for the
conventions; gh_n = W_hn h + b_hn is an input, saved by the caller for the backward pass).

The parts (`candidate_pre`, `update`) serve a consumer that activates r and z in one call.

`make_backward()` -> backward(one, dh, h_prev, r, z, n, gh_n) -> (da_r, da_z, da_n, dgh_n,
dh_direct): the derivatives in the pre-activations (da_n: of the n gate's input term,
dgh_n = da_n r: of its recurrent term) and dh_direct = dh z, the share of dL/dh_prev that
does not pass through W_hh; torch's backward order. dh_prev = dh_direct + W_hh^T
(da_r, da_z, dgh_n) (hidden size 1: `recurrent_back`).
"""

from __future__ import annotations


def candidate_pre(gi_n, r, gh_n):
    """The n gate's pre-activation: the input term plus the reset recurrent term."""
    return gi_n + r * gh_n


def update(h, z, n):
    """h' from h, the update gate and the candidate."""
    return (h - n) * z + n


def make_step(sigmoid, tanh, jit=None):
    """The step over the given activations (`jit`: see `lstm.make_step`)."""
    npre, upd = (candidate_pre, update) if jit is None else (jit(candidate_pre), jit(update))

    def step(env, gh, gi, h):
        r = sigmoid(env, gh[0] + gi[0])
        z = sigmoid(env, gh[1] + gi[1])
        n = tanh(env, npre(gi[2], r, gh[2]))
        return upd(h, z, n), r, z, n

    return step


def make_backward():
    def backward(one, dh, h_prev, r, z, n, gh_n):
        dz = dh * (h_prev - n)
        da_n = (dh - dh * z) * (one - n * n)
        dgh_n = da_n * r
        da_r = ((da_n * gh_n) * (one - r)) * r
        da_z = (dz * (one - z)) * z
        return da_r, da_z, da_n, dgh_n, dh * z

    return backward


def recurrent_back(w, dh_direct, da_r, da_z, dgh_n):
    """dL/dh_prev at hidden size 1."""
    return dh_direct + ((da_r * w[0] + da_z * w[1]) + dgh_n * w[2])
