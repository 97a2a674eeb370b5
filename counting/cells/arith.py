"""Arithmetics for the generic cell steps at the Python level: the activations as
(env, x) -> y functions (env unused here), over one number type each.

    FLOAT     Python floats: sigmoid 1 / (1 + exp(-x)) with libm's exp, libm's tanh
    TORCH     torch tensors: torch.sigmoid, torch.tanh, torch.relu
    NUMPY     numpy arrays through torch's kernels (torch.from_numpy), as `probes.unroll`
    SYMPY     sympy expressions: sigma (an undefined function), sp.tanh, Max(0, x)

`steps(arith)` -> {cell: step} made by each cell's `make_step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from counting.cells import gru, lstm, relu


@dataclass(frozen=True)
class Arith:
    name: str
    sigmoid: Callable
    tanh: Callable
    relu: Callable

    def steps(self) -> dict:
        return {"lstm": lstm.make_step(self.sigmoid, self.tanh),
                "gru": gru.make_step(self.sigmoid, self.tanh),
                "relu": relu.make_step(self.relu)}


def _fsig(env, x):
    return 1.0 / (1.0 + math.exp(-x))


def _frelu(env, x):
    return x if (x > 0.0 or x != x) else 0.0  # torch.relu: +0, NaN kept


FLOAT = Arith("float", _fsig, lambda env, x: math.tanh(x), _frelu)


def _torch():
    import torch

    return Arith("torch", lambda env, x: torch.sigmoid(x), lambda env, x: torch.tanh(x),
                 lambda env, x: torch.relu(x))


def _numpy():
    import numpy as np
    import torch

    def on(fn):
        return lambda env, x: fn(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return Arith("numpy", on(torch.sigmoid), on(torch.tanh), on(torch.relu))


def _sympy():
    import sympy as sp

    sigma = sp.Function("sigma")  # the logistic function 1 / (1 + exp(-x))
    return Arith("sympy", lambda env, x: sigma(x), lambda env, x: sp.tanh(x),
                 lambda env, x: sp.Max(0, x))


def get(name: str) -> Arith:
    """An arithmetic by name ('float', 'torch', 'numpy', 'sympy')."""
    if name == "float":
        return FLOAT
    makers = {"torch": _torch, "numpy": _numpy, "sympy": _sympy}
    if name not in makers:
        raise ValueError(f"unknown arithmetic {name!r}")
    return makers[name]()
