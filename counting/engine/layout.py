"""Flat parameter vectors for hidden-size-1 models, and conversion to and from `CounterRNN`.

A model's parameters are one float64 vector in `model.parameters()` order, each tensor
flattened row-major. With G gates (LSTM 4: i f g o; GRU 3: r z n; ReLU 1):

    index            tensor                 shape
    2*q + k          rnn.weight_ih_l0       (G, 2)   gate q, input token k ('(' = 0, ')' = 1)
    2G + q           rnn.weight_hh_l0       (G, 1)
    3G + q           rnn.bias_ih_l0         (G,)
    4G + q           rnn.bias_hh_l0         (G,)
    5G + j           readout.weight         (2, 1)   output j
    5G + 2 + j       readout.bias           (2,)

so a model has 5G + 4 parameters: LSTM 24, ReLU 9, GRU 19. Arrays of many models are
(M, P_MAX) with P_MAX = 24; a model uses the first n_params(cell) entries of its row.
"""

from __future__ import annotations

import numpy as np
import torch

from counting.models import GATES, CounterRNN

CELL_IDS = {"lstm": 0, "relu": 1, "gru": 2}
P_MAX = 5 * 4 + 4


def n_params(cell: str) -> int:
    return 5 * GATES[cell] + 4


def supports(model_or_cell, hidden_size: int = 1, dtype="float64") -> str | None:
    """None when the fast engine handles this configuration, else the reason it does not."""
    if isinstance(model_or_cell, CounterRNN):
        cell, hidden_size = model_or_cell.cell, model_or_cell.hidden_size
        dtype = str(model_or_cell.dtype).replace("torch.", "")
    else:
        cell = model_or_cell
    if cell not in CELL_IDS:
        return f"unknown cell {cell!r}"
    if hidden_size != 1:
        return f"the fast engine handles hidden size 1 only (got {hidden_size})"
    if dtype not in ("float64", torch.float64):
        return f"the fast engine computes in float64 only (got {dtype})"
    return None


def pack(model: CounterRNN) -> np.ndarray:
    """CounterRNN (hidden size 1) -> float64 vector (n_params(cell),), a copy."""
    if model.hidden_size != 1:
        raise ValueError(f"pack needs hidden size 1, got {model.hidden_size}")
    with torch.no_grad():
        parts = [p.detach().reshape(-1).to(torch.float64).numpy() for p in model.parameters()]
    return np.concatenate(parts).copy()


def unpack(vec: np.ndarray, cell: str, dtype=torch.float64, out: CounterRNN | None = None):
    """Inverse of `pack`: a CounterRNN (hidden size 1, `dtype`) holding `vec`'s values -
    a new one, or `out` (a model of that cell) overwritten."""
    vec = np.asarray(vec, dtype=np.float64)
    model = CounterRNN(cell, 1, dtype) if out is None else out
    need = n_params(cell)
    if vec.shape[0] < need:
        raise ValueError(f"a {cell} needs {need} parameters, got {vec.shape[0]}")
    i = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.as_tensor(vec[i : i + n]).reshape(p.shape))
            i += n
    return model
