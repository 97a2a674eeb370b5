"""The flat parameter layout of a `CounterRNN`, for any hidden size H.

A model's parameters are one vector in `model.parameters()` order (torch's
`named_parameters`), each tensor flattened row-major. With G gate blocks (`registry`) and
R = G*H gate rows (row q*H + u for gate q and unit u):

    block   tensor                 shape    start
    wih     rnn.weight_ih_l0       (R, 2)   0            W_ih[r, k] at 2r + k (k: token,
                                                         0 '(' , 1 ')')
    whh     rnn.weight_hh_l0       (R, H)   2R           W_hh[r, u] at 2R + rH + u
    bih     rnn.bias_ih_l0         (R,)     2R + RH
    bhh     rnn.bias_hh_l0         (R,)     3R + RH
    wr      readout.weight         (2, H)   4R + RH      W_out[j, u] at 4R + RH + jH + u
    br      readout.bias           (2,)     4R + RH + 2H

so n_params(cell, H) = G H (H + 4) + 2H + 2. Hidden size 1: W_ih 2q+k, W_hh 2G+q,
b_ih 3G+q, b_hh 4G+q, W_out 5G+j, b_out 5G+2+j; 5G + 4 parameters (LSTM 24, ReLU 9,
GRU 19). H = 8: LSTM 402, ReLU 114, GRU 306.
"""

from __future__ import annotations

from counting.cells.registry import GATES_BY_ID, cell

BLOCKS = ("wih", "whh", "bih", "bhh", "wr", "br")
P_MAX = 5 * max(GATES_BY_ID) + 4  # the widest hidden-size-1 model (the LSTM: 24)


def n_params_G(G: int, H: int = 1) -> int:
    """Parameters of a model with G gate blocks and hidden size H."""
    return G * H * (H + 4) + 2 * H + 2


def n_params(name: str, hidden_size: int = 1) -> int:
    """Parameters of a `name` cell of hidden size H."""
    return n_params_G(cell(name).G, hidden_size)


def offsets_G(G: int, H: int = 1) -> dict[str, int]:
    R = G * H
    return {"wih": 0, "whh": 2 * R, "bih": 2 * R + R * H, "bhh": 3 * R + R * H,
            "wr": 4 * R + R * H, "br": 4 * R + R * H + 2 * H}


def offsets(name: str, hidden_size: int = 1) -> dict[str, int]:
    """Start index of each block (`BLOCKS`) in the flat vector."""
    return offsets_G(cell(name).G, hidden_size)


def shapes(name: str, hidden_size: int = 1) -> dict[str, tuple[int, ...]]:
    """Shape of each block's tensor."""
    R, H = cell(name).G * hidden_size, hidden_size
    return {"wih": (R, 2), "whh": (R, H), "bih": (R,), "bhh": (R,), "wr": (2, H), "br": (2,)}


def blocks(vec, name: str, hidden_size: int = 1) -> dict:
    """Views of a flat vector's blocks, reshaped to the tensors' shapes."""
    o, s = offsets(name, hidden_size), shapes(name, hidden_size)
    out = {}
    for b in BLOCKS:
        n = 1
        for d in s[b]:
            n *= d
        out[b] = vec[o[b]: o[b] + n].reshape(s[b])
    return out
