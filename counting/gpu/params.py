"""Flat parameter layout of a hidden-size-1 CounterRNN, and many models' initial weights.

One model is a vector of P = 5*G + 4 numbers (G = 4 LSTM, 3 GRU, 1 ReLU) in torch's
`named_parameters` order, row-major:

    [0, 2G)       rnn.weight_ih_l0 (G, 2): W_ih[k, j] at 2k + j   (j = token: 0 '(' , 1 ')')
    [2G, 3G)      rnn.weight_hh_l0 (G, 1)
    [3G, 4G)      rnn.bias_ih_l0   (G,)
    [4G, 5G)      rnn.bias_hh_l0   (G,)
    [5G, 5G+2)    readout.weight   (2, 1)
    [5G+2, 5G+4)  readout.bias     (2,)

This is `counting.cells.layout` at H = 1 (the one definition). Many models are stored
column-wise, shape (P, M), so that on the GPU neighbouring threads
(models) read neighbouring addresses.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from counting.cells import layout
from counting.cells.registry import cell as _cell
from counting.models import CounterRNN, init_model, resolve_dtype


def n_params(cell: str) -> int:
    """P for a hidden-size-1 model of `cell`."""
    return layout.n_params(cell, 1)


def offsets(cell: str) -> dict[str, int]:
    """Start index of each parameter block in the flat vector."""
    return layout.offsets(cell, 1)


def _gates(cell: str) -> int:
    return _cell(cell).G


def numpy_dtype(dtype) -> np.dtype:
    """'float32' | 'float64' | torch dtype -> numpy dtype."""
    return np.dtype(str(resolve_dtype(dtype)).removeprefix("torch."))


def model_to_vector(model: CounterRNN) -> np.ndarray:
    """A hidden-size-1 CounterRNN -> its flat parameter vector, shape (P,), the model's dtype."""
    if model.hidden_size != 1:
        raise ValueError(f"the GPU path supports hidden_size 1 only, got {model.hidden_size}")
    parts = [p.detach().cpu().reshape(-1).numpy() for _, p in model.named_parameters()]
    return np.concatenate(parts)


def vector_to_model(cell: str, vec: np.ndarray, dtype="float64") -> CounterRNN:
    """The inverse of `model_to_vector`: a CounterRNN of `dtype` holding `vec` (shape (P,))."""
    vec = np.asarray(vec)
    if vec.shape != (n_params(cell),):
        raise ValueError(
            f"a {cell} parameter vector has shape ({n_params(cell)},), got {vec.shape}")
    model = CounterRNN(cell, 1, dtype)
    i = 0
    with torch.no_grad():
        for _, p in model.named_parameters():
            k = p.numel()
            p.copy_(torch.as_tensor(vec[i : i + k].reshape(p.shape), dtype=p.dtype))
            i += k
    return model


def _fast_init_vector(cell: str, seed: int) -> np.ndarray:
    """PyTorch's default init of CounterRNN(cell, 1) for `seed`, float32, shape (P,).

    Replays the draws `init_model` makes (the RNN's `reset_parameters`, then nn.Linear's) on a
    private generator, about 10x faster than building the module. Checked against
    `init_model` by `init_params(check=True)` and the tests.
    """
    G = _gates(cell)
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for shape in ((G, 2), (G, 1), (G,), (G,)):  # RNNBase.reset_parameters, stdv = 1/sqrt(H)
        t = torch.empty(shape)
        nn.init.uniform_(t, -1.0, 1.0, generator=gen)
        out.append(t)
    w = torch.empty(2, 1)  # nn.Linear(1, 2).reset_parameters
    nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen)
    b = torch.empty(2)
    nn.init.uniform_(b, -1.0, 1.0, generator=gen)  # bound = 1/sqrt(fan_in), fan_in = 1
    out += [w, b]
    return torch.cat([t.reshape(-1) for t in out]).numpy()


def init_params(cell: str, seeds, dtype="float64", check: bool = True) -> np.ndarray:
    """Initial weights of one model per seed -> array (P, M) of `dtype`.

    Equal to `model_to_vector(init_model(cell, 1, seed, dtype))` for every seed. With
    `check`, the fast path is compared with `init_model` on the first seed and, should torch's
    init ever change, every seed falls back to `init_model`.
    """
    seeds = [int(s) for s in np.atleast_1d(np.asarray(seeds))]
    npdt = numpy_dtype(dtype)
    P = n_params(cell)
    out = np.empty((P, len(seeds)), dtype=npdt)
    if not seeds:
        return out
    fast = True
    if check:
        ref = model_to_vector(init_model(cell, 1, seeds[0], "float32"))
        fast = np.array_equal(ref, _fast_init_vector(cell, seeds[0]))
    for m, seed in enumerate(seeds):
        if fast:
            vec = _fast_init_vector(cell, seed)
        else:
            vec = model_to_vector(init_model(cell, 1, seed, "float32"))
        out[:, m] = vec.astype(npdt)  # float32 draws, converted: as init_model does
    return out
