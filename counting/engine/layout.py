"""Flat parameter vectors of models, and conversion to and from `CounterRNN`.

A model's parameters are one float64 vector in `model.parameters()` order, each tensor
flattened row-major: the layout of `counting.cells.layout` (the one definition, any H;
the cells, their ids and gate counts come from `counting.cells.registry`). With G gates
(LSTM 4: i f g o; GRU 3: r z n; ReLU 1), hidden size 1:

    index            tensor                 shape
    2*q + k          rnn.weight_ih_l0       (G, 2)   gate q, input token k ('(' = 0, ')' = 1)
    2G + q           rnn.weight_hh_l0       (G, 1)
    3G + q           rnn.bias_ih_l0         (G,)
    4G + q           rnn.bias_hh_l0         (G,)
    5G + j           readout.weight         (2, 1)   output j
    5G + 2 + j       readout.bias           (2,)

so a model has 5G + 4 parameters: LSTM 24, ReLU 9, GRU 19. Arrays of many hidden-size-1
models are (M, P_MAX) with P_MAX = 24; a model uses the first n_params(cell) entries of its
row. Hidden size H (R = G*H gate rows, rows q*H + u for gate q and unit u): W_ih (R, 2) at 0,
W_hh (R, H) at 2R, b_ih (R,) at 2R + RH, b_hh (R,) at 3R + RH, W_out (2, H) at 4R + RH,
b_out (2,) at 4R + RH + 2H - n_params(cell, H) = G H (H + 4) + 2H + 2 (H = 8: LSTM 402,
ReLU 114, GRU 306). Arrays of models of several sizes are as wide as the largest.
"""

from __future__ import annotations

import numpy as np
import torch

from counting.cells.layout import P_MAX, n_params
from counting.cells.registry import CELL_IDS, GATES_BY_ID
from counting.engine.jit import inline
from counting.models import MAX_HIDDEN, CounterRNN

__all__ = ["CELL_IDS", "GATES_BY_ID", "P_MAX", "n_params", "n_params_of", "pack", "supports",
           "unpack"]
_G0, _G1, _G2 = GATES_BY_ID  # compile-time constants of `n_params_of`


@inline
def n_params_of(cell_id, hidden_size):
    """`n_params` inside the kernels, from a cell id (layout.CELL_IDS)."""
    G = _G0 if cell_id == 0 else (_G1 if cell_id == 1 else _G2)
    return G * hidden_size * (hidden_size + 4) + 2 * hidden_size + 2


def supports(model_or_cell, hidden_size: int = 1, dtype="float64") -> str | None:
    """None when the fast engine handles this configuration, else the reason it does not."""
    if isinstance(model_or_cell, CounterRNN):
        cell, hidden_size = model_or_cell.cell, model_or_cell.hidden_size
        dtype = str(model_or_cell.dtype).replace("torch.", "")
    else:
        cell = model_or_cell
    if cell not in CELL_IDS:
        return f"unknown cell {cell!r}"
    if not (isinstance(hidden_size, int) and 1 <= hidden_size <= MAX_HIDDEN):
        return f"the fast engine handles hidden sizes 1 to {MAX_HIDDEN} (got {hidden_size})"
    if dtype not in ("float64", torch.float64):
        return f"the fast engine computes in float64 only (got {dtype})"
    return None


def pack(model: CounterRNN) -> np.ndarray:
    """CounterRNN -> float64 vector (n_params(cell, hidden size),), a copy."""
    with torch.no_grad():
        parts = [p.detach().reshape(-1).to(torch.float64).numpy() for p in model.parameters()]
    return np.concatenate(parts).copy()


def unpack(vec: np.ndarray, cell: str, dtype=torch.float64, out: CounterRNN | None = None,
           hidden_size: int = 1):
    """Inverse of `pack`: a CounterRNN (`hidden_size`, `dtype`) holding `vec`'s values -
    a new one, or `out` (a model of that cell and size) overwritten."""
    vec = np.asarray(vec, dtype=np.float64)
    model = CounterRNN(cell, hidden_size, dtype) if out is None else out
    need = n_params(cell, model.hidden_size)
    if vec.shape[0] < need:
        raise ValueError(f"a {cell} needs {need} parameters, got {vec.shape[0]}")
    i = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.as_tensor(vec[i : i + n]).reshape(p.shape))
            i += n
    return model
