"""The ReLU-RNN cell's step and its derivative, written once, generic in the arithmetic.

torch's CPU order (SimpleCell), one gate row (`registry.RELU`), token k:
    pre = gh + gi = (W_hh h + b_hh) + (W_ih[:, k] + b_ih);   h' = max(pre, 0)
The gradient passes where h' > 0 (torch's threshold_backward on the result).

`make_step(relu)` -> step(env, gh, gi) -> (h', pre); relu(env, x) is the arithmetic's
(torch's keeps NaN). `make_backward(zero)` -> backward(dh, h) -> da, the derivative in
pre: 0 where h' <= 0, else dh (torch's threshold_backward, so a NaN h' passes dh).
dh_prev = W_hh^T da (hidden size 1: `recurrent_back`).
"""

from __future__ import annotations


def make_step(relu):
    def step(env, gh, gi):
        pre = gh[0] + gi[0]
        return relu(env, pre), pre

    return step


def make_backward(zero):
    def backward(dh, h):
        return zero if h <= zero else dh  # threshold_backward on the output

    return backward


def recurrent_back(w, da):
    """dL/dh_prev at hidden size 1."""
    return da * w[0]
