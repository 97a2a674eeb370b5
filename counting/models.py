"""`CounterRNN`: one recurrent layer (LSTM, ReLU-RNN or GRU), a linear readout, a sigmoid.

    x (B, T, 2) one-hot  ->  rnn  ->  h (B, T, H)  ->  readout  ->  sigmoid  ->  (B, T, 2)

Parameter names (the checkpoint format relies on them): rnn.weight_ih_l0 (G*H, 2),
rnn.weight_hh_l0 (G*H, H), rnn.bias_ih_l0 (G*H,), rnn.bias_hh_l0 (G*H,), readout.weight
(2, H), readout.bias (2,), with G = 4 (LSTM: gates i f g o), 3 (GRU: r z n), 1 (ReLU).
PyTorch's default init, h0 = c0 = 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from counting.cells.registry import CELLS, GATES
from counting.dyck import one_hot

__all__ = ["CELLS", "DTYPES", "GATES", "MAX_HIDDEN", "CounterRNN", "dtype_name", "init_model",
           "pad_batch", "resolve_dtype"]
DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAX_HIDDEN = 8  # the largest hidden size the CLI accepts and the fast engine compiles


def resolve_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}[dtype]


class CounterRNN(nn.Module):
    """A single-layer RNN counter for Dyck-1.

    Args:
        cell: 'lstm' | 'relu' | 'gru'.
        hidden_size: H (the paper uses 1).
        dtype: torch.float32 or torch.float64 (or their names).
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 1, dtype=torch.float32):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        dtype = resolve_dtype(dtype)
        self.cell = cell
        self.hidden_size = hidden_size
        if cell == "lstm":
            self.rnn = nn.LSTM(2, hidden_size, batch_first=True)
        elif cell == "gru":
            self.rnn = nn.GRU(2, hidden_size, batch_first=True)
        else:
            self.rnn = nn.RNN(2, hidden_size, nonlinearity="relu", batch_first=True)
        self.readout = nn.Linear(hidden_size, 2)
        self.to(dtype)

    @property
    def dtype(self) -> torch.dtype:
        return self.readout.weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, 2) or (T, 2) one-hot -> probabilities of the same leading shape + (2,).

        Padding after a sequence's end does not change its outputs (the RNN is causal), so a
        right-padded batch gives each sequence's exact outputs at its valid positions.
        """
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != 2:
            raise ValueError(f"expected input of shape (B, T, 2) or (T, 2), got {tuple(x.shape)}")
        h, _ = self.rnn(x.to(self.dtype))  # (B, T, H)
        out = torch.sigmoid(self.readout(h))  # (B, T, 2)
        return out[0] if squeeze else out

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, hidden_size={self.hidden_size}"


def init_model(cell: str, hidden_size: int = 1, seed: int = 0, dtype=torch.float32) -> CounterRNN:
    """A CounterRNN with PyTorch's default init drawn from `seed`, without touching the global
    RNG. Weights are drawn in float32 and then converted, so float32 and float64 models of one
    seed start from the same values."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CounterRNN(cell, hidden_size, torch.float32)
    return model.to(resolve_dtype(dtype))


def pad_batch(seqs: list[str], dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded one-hot batch -> (x (B, T, 2), lengths (B,) int64); padding is zeros."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    T = int(lengths.max()) if len(seqs) else 0
    x = np.zeros((len(seqs), T, 2))
    for b, s in enumerate(seqs):
        x[b, : len(s)] = one_hot(s)
    return torch.as_tensor(x, dtype=resolve_dtype(dtype)), lengths
