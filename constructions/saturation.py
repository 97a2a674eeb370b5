"""Where torch's sigmoid and tanh saturate: computed with torch's own CPU kernels, never typed in.

`saturation_threshold(fn, dtype)` is the smallest pre-activation x (a float of that dtype) at
which fn(x) == 1.0 exactly. It is found by bisection over the ordered bit patterns of the
dtype's non-negative floats, then checked to be a true threshold (every float in a window
below it gives < 1, every float in a window above it and a log-spaced grid up to 1e4 gives 1).

The kernels differ, so each is probed where the models meet it:

- 'torch': torch.sigmoid / torch.tanh on a tensor (ATen's vectorised and scalar loops). nn.GRU's
  gates, the readout sigmoid and nn.LSTM in float64 use these.
- 'lstm':  the gates of nn.LSTM's forward. On CPU in float32 it runs oneDNN (mkldnn), whose
  sigmoid and tanh saturate LATER than torch.sigmoid / torch.tanh: a gate between the two
  thresholds is exactly 1.0 in torch.sigmoid but not inside nn.LSTM.
- 'gru':   the gates of nn.GRU's forward.
- 'all' (the default): the largest of the three - the smallest x that saturates every kernel.

Every probe evaluates a batch of 17 copies of x (a full AVX-512 vector plus a scalar tail) and
requires all of them to be 1.0.

`kernel_values(fn, x, dtype, kernel)` returns what a kernel computes for an array of
pre-activations (used to evaluate the exact-counting conditions as the model computes them).
The nn.LSTM / nn.GRU values are read off one step of a one-unit layer whose other gates are
pinned so that the state equals the probed gate exactly:

    LSTM, sigmoid: i = sigma(x), g = tanh(1e4) = 1, c0 = 0      ->  c1 = i * g = sigma(x)
    LSTM, tanh:    i = sigma(1e4) = 1, g = tanh(x), c0 = 0     ->  c1 = tanh(x)
    GRU,  sigmoid: z = sigma(x), n = tanh(0) = 0, h0 = 1      ->  h1 = (h0 - n) z + n = sigma(x)
    GRU,  tanh:    z = sigma(-1e4) = 0, n = tanh(x), h0 = 0   ->  h1 = n = tanh(x)
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from counting.models import resolve_dtype

FUNCTIONS = ("sigmoid", "tanh")
KERNELS = ("torch", "lstm", "gru")
_BIG = 1e4  # saturates every kernel in both dtypes (checked by `saturation_threshold`)
_COPIES = 17
_INT = {torch.float32: torch.int32, torch.float64: torch.int64}


def _check(fn: str, kernel: str) -> None:
    if fn not in FUNCTIONS:
        raise ValueError(f"fn must be one of {FUNCTIONS}, got {fn!r}")
    if kernel not in KERNELS + ("all",):
        raise ValueError(f"kernel must be one of {KERNELS + ('all',)}, got {kernel!r}")


@torch.no_grad()
def kernel_values(fn: str, x, dtype=torch.float64, kernel: str = "torch") -> np.ndarray:
    """fn(x) as `kernel` computes it in `dtype`. x: array-like of any shape -> float64 array
    of the same shape (the dtype's values, widened exactly)."""
    _check(fn, kernel)
    if kernel == "all":
        raise ValueError("kernel_values needs one kernel ('torch', 'lstm' or 'gru'), not 'all'")
    dtype = resolve_dtype(dtype)
    arr = np.asarray(x, dtype=np.float64)
    flat = torch.as_tensor(arr.reshape(-1)).to(dtype)
    if kernel == "torch":
        out = torch.sigmoid(flat) if fn == "sigmoid" else torch.tanh(flat)
        return out.double().numpy().reshape(arr.shape)
    B = flat.numel()
    inp = torch.zeros(B, 1, 2, dtype=dtype)
    inp[:, 0, 0] = flat
    if kernel == "lstm":
        layer = nn.LSTM(2, 1, batch_first=True).to(dtype)
        for p in layer.parameters():
            p.zero_()
        probed, pinned = (0, 2) if fn == "sigmoid" else (2, 0)  # rows: i f g o
        layer.weight_ih_l0[probed, 0] = 1.0
        layer.bias_ih_l0[pinned] = _BIG
        zeros = torch.zeros(1, B, 1, dtype=dtype)
        _, (_, c1) = layer(inp, (zeros, zeros))
        out = c1
    else:
        layer = nn.GRU(2, 1, batch_first=True).to(dtype)
        for p in layer.parameters():
            p.zero_()
        if fn == "sigmoid":  # rows: r z n
            layer.weight_ih_l0[1, 0] = 1.0
            h0 = torch.ones(1, B, 1, dtype=dtype)
        else:
            layer.weight_ih_l0[2, 0] = 1.0
            layer.bias_ih_l0[1] = -_BIG
            h0 = torch.zeros(1, B, 1, dtype=dtype)
        _, out = layer(inp, h0)
    return out.reshape(-1).double().numpy().reshape(arr.shape)


def _bits_to_float(bits: int, dtype: torch.dtype) -> float:
    return torch.tensor([bits], dtype=_INT[dtype]).view(dtype).item()


def _float_to_bits(x: float, dtype: torch.dtype) -> int:
    return int(torch.tensor([x], dtype=dtype).view(_INT[dtype]).item())


@functools.cache
def _kernel_threshold(fn: str, dtype: torch.dtype, kernel: str) -> float:
    def saturated(bits: np.ndarray) -> np.ndarray:
        """bits: (n,) bit patterns -> (n,) bool, fn == 1.0 in all 17 copies of each."""
        xs = torch.as_tensor(bits, dtype=_INT[dtype]).view(dtype).double().numpy()
        vals = kernel_values(fn, np.repeat(xs, _COPIES), dtype, kernel).reshape(-1, _COPIES)
        ok = np.all(vals == 1.0, axis=1)
        if fn == "tanh":
            neg = kernel_values(fn, -np.repeat(xs, _COPIES), dtype, kernel).reshape(-1, _COPIES)
            ok &= np.all(neg == -1.0, axis=1)
        return ok

    lo, hi = _float_to_bits(0.0, dtype), _float_to_bits(100.0, dtype)
    if saturated(np.array([lo]))[0] or not saturated(np.array([hi]))[0]:
        raise RuntimeError(f"{kernel} {fn} in {dtype}: not 1.0 at 100 or already 1.0 at 0")
    while hi - lo > 1:  # invariant: not saturated at lo, saturated at hi
        mid = (lo + hi) // 2
        if saturated(np.array([mid]))[0]:
            hi = mid
        else:
            lo = mid
    window = np.arange(hi - 256, hi + 256, dtype=np.int64)
    ok = saturated(window)
    grid = np.array([_float_to_bits(v, dtype) for v in np.geomspace(_bits_to_float(hi, dtype),
                                                                  _BIG, 64)])
    if ok[:256].any() or not ok[256:].all() or not saturated(grid).all():
        raise RuntimeError(f"{kernel} {fn} in {dtype} is not monotone near its saturation point")
    return _bits_to_float(hi, dtype)


def saturation_threshold(fn: str, dtype=torch.float64, kernel: str = "all") -> float:
    """Smallest x of `dtype` with fn(x) == 1.0 exactly in `kernel` ('all': in every kernel).

    fn: 'sigmoid' or 'tanh'; dtype: torch.float32 / torch.float64 or their names.
    For tanh the threshold also covers the negative side: tanh(-x) == -1.0 exactly for every
    x >= the threshold (checked, not assumed; the candidate -1 of ')' relies on it).
    """
    _check(fn, kernel)
    dtype = resolve_dtype(dtype)
    if kernel == "all":
        return max(_kernel_threshold(fn, dtype, k) for k in KERNELS)
    return _kernel_threshold(fn, dtype, kernel)


def saturation_table() -> dict:
    """{dtype name: {fn: {kernel: threshold}}} for the README; computed on this machine."""
    return {
        name: {fn: {k: saturation_threshold(fn, dt, k) for k in KERNELS + ("all",)}
               for fn in FUNCTIONS}
        for name, dt in (("float32", torch.float32), ("float64", torch.float64))
    }
