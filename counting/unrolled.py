"""Every state and gate of a hidden-size-1 cell, in numba, streamed through long words.

`nn.LSTM` / `nn.GRU` / `nn.RNN` return only h_t and take ~10-30 us a token on one core, too
slow for words of 10^6 tokens. The kernels here replay torch's CPU cell arithmetic for hidden
size 1 - the same operations in the same order (see `probes.unroll` for the equations) with
torch's own sigmoid and tanh (below) - so that h equals the module's output
bit for bit (tested), in float64 and float32 (the float32 LSTM module runs oneDNN instead,
whose gates differ; see probes.unroll). Cost: 0.1-0.6 us a token (LSTM the most:
benchmarks/RESULTS.md, measured under load).

    r = CellReplica.of(model)         # None where it does not apply (hidden size > 1, or
                                      # torch's tanh is not reachable here)
    state = r.zero_state()
    values = r.run(tokens, state)     # (K, T) array in the model's dtype, rows r.keys;
                                      # `state` (h, c) is updated for the next chunk

Tokens: int8, 0 = '(', 1 = ')', -1 = a zero input (padding).

Torch's own math. For a gate to be exactly 1.0 here exactly when torch makes it 1.0, the
kernels compute sigmoid and tanh with torch's own arithmetic:

- sigmoid: on a tensor shorter than two SIMD vectors (a gate of a hidden-size-1 cell: one
  element) torch's CPU kernel takes its scalar path, 1 / (1 + exp(-x)) with the C library's
  exp - the exp numba's `math.exp` calls too. `sigmoid(x, one)` is that expression.
- tanh: torch.tanh on CPU is MKL's vdTanh / vsTanh in this build (elementwise, the same for
  one element as for many). `tanh_address(dtype)` finds that function in libtorch_cpu and
  `call_tanh(address, x)` calls it on one element from a kernel.

Both are checked against torch itself on first use, on `verify_points` (random values, a
fine grid over every saturation edge, non-finite inputs): `CellReplica.why_not` names the
failed check and callers fall back to torch's own kernels.

The steps are those of `counting.cells` (the one definition), compiled here over these two
activations (the project's cache key, `counting.jit.cache`, covers `counting.cells`, so an
edit of a step there is never served from a stale cache).
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from counting.cells import gru as cells_gru
from counting.cells import lstm as cells_lstm
from counting.cells import relu as cells_relu
from counting.cells.registry import REGISTRY
from counting.jit import njit  # numba.njit, after choosing the cache directory

_SYMBOLS = {"float64": "vdTanh", "float32": "vsTanh"}


@intrinsic
def call_tanh(typingctx, address, x):
    """tanh(x) by the C function at `address`, with MKL's vector signature
    (n, const T *in, T *out) called for n = 1. x: float32 or float64."""
    if not isinstance(x, types.Float) or not isinstance(address, types.Integer):
        return None
    sig = x(address, x)

    def codegen(context, builder, signature, args):
        addr, value = args
        ty = context.get_value_type(signature.args[1])
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(64), ty.as_pointer(), ty.as_pointer()])
        fn = builder.inttoptr(addr, fnty.as_pointer())
        src = cgutils.alloca_once(builder, ty)  # in the entry block: no stack growth in loops
        dst = cgutils.alloca_once(builder, ty)
        builder.store(value, src)
        builder.call(fn, [ir.Constant(ir.IntType(64), 1), src, dst])
        return builder.load(dst)

    return sig, codegen


@njit(cache=True, inline="always")
def sigmoid(x, one):
    """torch's scalar CPU sigmoid, in the type of `one` (1.0 as float32 or float64)."""
    return one / (one + math.exp(-x))


@njit(cache=True)
def _tanh_each(address, x):
    out = np.empty_like(x)
    for k in range(x.size):
        out[k] = call_tanh(address, x[k])
    return out


@njit(cache=True)
def _sigmoid_each(x, one):
    out = np.empty_like(x)
    for k in range(x.size):
        out[k] = sigmoid(x[k], one)
    return out


def verify_points(dtype: str) -> np.ndarray:
    """Inputs on which the replicas are checked against torch: random values at several
    scales, a fine grid over each saturation edge, tiny and non-finite values."""
    rng = np.random.default_rng(0)
    edges = [np.linspace(a, b, 801) for a, b in ((8.0, 10.0), (16.0, 20.0), (35.0, 38.0))]
    pts = np.concatenate([rng.normal(0, s, 1500) for s in (0.1, 1.0, 5.0, 20.0)] + edges
                         + [-e for e in edges]
                         + [np.array([0.0, -0.0, 1e-300, -1e-300, np.inf, -np.inf, np.nan])])
    return pts.astype(np.float64 if dtype == "float64" else np.float32)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True)
                and np.array_equal(np.signbit(a), np.signbit(b)))


@functools.cache
def tanh_address(dtype: str) -> int | None:
    """Address of torch's CPU tanh for `dtype` ('float32' | 'float64'), verified to equal
    torch.tanh on `verify_points`; None where it cannot be used."""
    name = _SYMBOLS.get(dtype)
    lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    if name is None or not os.path.isfile(lib):
        return None
    try:
        fn = getattr(ctypes.CDLL(lib), name)
    except (OSError, AttributeError):
        return None
    address = ctypes.cast(fn, ctypes.c_void_p).value
    x = verify_points(dtype)
    if not _same(_tanh_each(address, x), torch.tanh(torch.from_numpy(x)).numpy()):
        return None
    return address


@functools.cache
def sigmoid_matches(dtype: str) -> bool:
    """True when `sigmoid` equals torch.sigmoid on one-element tensors on `verify_points`."""
    x = verify_points(dtype)
    one = x.dtype.type(1)
    mine = _sigmoid_each(x, one)
    theirs = np.array([torch.sigmoid(torch.from_numpy(x[k : k + 1])).item() for k in
                       range(x.size)], dtype=x.dtype)
    return _same(mine, theirs)


KEYS = {name: c.keys for name, c in REGISTRY.items()}


# The cells' generic steps (counting.cells) over torch's own kernels; env = (one, address
# of torch's tanh).
@njit(inline="always")
def _sig_env(env, x):
    return sigmoid(x, env[0])


@njit(inline="always")
def _tanh_env(env, x):
    return call_tanh(env[1], x)


@njit(inline="always")
def _relu_env(env, x):
    zero = env[0] - env[0]
    return x if (x > zero or x != x) else zero  # torch.relu keeps NaN


_part = njit(inline="always")
_LSTM_STEP = _part(cells_lstm.make_step(_sig_env, _tanh_env, jit=_part))
_GRU_STEP = _part(cells_gru.make_step(_sig_env, _tanh_env, jit=_part))
_RELU_STEP = _part(cells_relu.make_step(_relu_env))


@njit(cache=True)
def _lstm(tok, table, w_hh, b_hh, state, out, one, tanh_at):
    h, c = state[0], state[1]
    env = (one, tanh_at)
    for t in range(tok.size):
        x = table[tok[t] if tok[t] >= 0 else 2]
        gh = (w_hh[0] * h + b_hh[0], w_hh[1] * h + b_hh[1], w_hh[2] * h + b_hh[2],
              w_hh[3] * h + b_hh[3])
        h, c, i, f, g, o, _ = _LSTM_STEP(env, gh, (x[0], x[1], x[2], x[3]), c)
        out[0, t], out[1, t], out[2, t], out[3, t], out[4, t], out[5, t] = i, f, g, o, c, h
    state[0], state[1] = h, c


@njit(cache=True)
def _gru(tok, table, w_hh, b_hh, state, out, one, tanh_at):
    h = state[0]
    env = (one, tanh_at)
    for t in range(tok.size):
        x = table[tok[t] if tok[t] >= 0 else 2]
        gh = (w_hh[0] * h + b_hh[0], w_hh[1] * h + b_hh[1], w_hh[2] * h + b_hh[2])
        h, r, z, n = _GRU_STEP(env, gh, (x[0], x[1], x[2]), h)
        out[0, t], out[1, t], out[2, t], out[3, t] = r, z, n, h
    state[0] = h


@njit(cache=True)
def _relu(tok, table, w_hh, b_hh, state, out, one, tanh_at):
    h = state[0]
    env = (one, tanh_at)
    for t in range(tok.size):
        x = table[tok[t] if tok[t] >= 0 else 2]
        h, pre = _RELU_STEP(env, (w_hh[0] * h + b_hh[0],), (x[0],))
        out[0, t], out[1, t] = pre, h
    state[0] = h


_KERNELS = {"lstm": _lstm, "gru": _gru, "relu": _relu}


@dataclass(frozen=True)
class CellReplica:
    """The numba replica of one hidden-size-1 model's cell (weights copied at creation)."""

    cell: str
    table: np.ndarray  # (3, G): input contribution W_ih x + b_ih for '(' , ')' and padding
    w_hh: np.ndarray  # (G,)
    b_hh: np.ndarray  # (G,)
    one: np.floating
    tanh_at: int

    @property
    def keys(self) -> tuple[str, ...]:
        return KEYS[self.cell]

    @property
    def dtype(self) -> np.dtype:
        return self.w_hh.dtype

    @staticmethod
    def why_not(model) -> str | None:
        """Why the replica cannot run `model` here, or None when it can."""
        if model.hidden_size != 1:
            return f"hidden size {model.hidden_size} (the replica handles 1)"
        name = str(model.dtype).replace("torch.", "")
        if name not in ("float32", "float64"):
            return f"dtype {name}"
        if tanh_address(name) is None:
            return "torch's CPU tanh (MKL vdTanh/vsTanh) is not reachable or differs"
        if not sigmoid_matches(name):
            return "torch's scalar sigmoid differs from 1 / (1 + exp(-x)) here"
        return None

    @classmethod
    def of(cls, model) -> CellReplica | None:
        """The replica of `model`, or None where `why_not(model)` gives a reason."""
        if cls.why_not(model) is not None:
            return None
        rnn = model.rnn
        w_ih = rnn.weight_ih_l0.detach().cpu().numpy()
        b_ih = rnn.bias_ih_l0.detach().cpu().numpy()
        table = np.ascontiguousarray(np.stack([w_ih[:, 0] + b_ih, w_ih[:, 1] + b_ih, b_ih]))
        dtype = str(model.dtype).replace("torch.", "")
        return cls(model.cell, table,
                   np.ascontiguousarray(rnn.weight_hh_l0.detach().cpu().numpy()[:, 0]),
                   np.ascontiguousarray(rnn.bias_hh_l0.detach().cpu().numpy()),
                   table.dtype.type(1), tanh_address(dtype))

    def zero_state(self) -> np.ndarray:
        """(h, c) = (0, 0), the modules' initial state; (2,) in the model's dtype."""
        return np.zeros(2, dtype=self.dtype)

    def run(self, tokens: np.ndarray, state: np.ndarray, out: np.ndarray | None = None):
        """Run the cell over `tokens` (T,) from `state` (updated in place) -> (K, T) values
        of `keys` in the model's dtype (written into `out` when given)."""
        tokens = np.ascontiguousarray(tokens, dtype=np.int8)
        if out is None:
            out = np.empty((len(self.keys), tokens.size), dtype=self.dtype)
        _KERNELS[self.cell](tokens, self.table, self.w_hh, self.b_hh, state, out, self.one,
                            self.tanh_at)
        return out
