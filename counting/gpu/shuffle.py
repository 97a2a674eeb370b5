"""Every run's per-epoch shuffle orders, epoch by epoch, for thousands of runs at once.

`counting.training.shuffle_orders(seed, n, epochs)` draws epoch e's order as
`np.random.default_rng([seed, 1]).permutation(n)` (e-th call). Holding all epochs of 100,000
runs would take 100,000 x 30 x 10,000 indices, and numpy needs ~0.1 ms per permutation on one
core, so this module re-implements exactly that stream - PCG64 (128-bit LCG, XSL-RR output,
numpy's buffered 32-bit draws) and numpy's Fisher-Yates with `random_interval` - in numba
(about twice numpy's speed per core), one epoch of all runs at a time, in threads. The result
equals `shuffle_orders` bit for bit (tests).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from counting.jit import njit

_U32 = np.uint64(32)
_M32 = np.uint64(0xFFFFFFFF)
_MUL_HI = np.uint64(2549297995355413924)  # PCG_DEFAULT_MULTIPLIER_128, high and low words
_MUL_LO = np.uint64(4865540595714422341)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_SIXTY3 = np.uint64(63)
_SIXTY4 = np.uint64(64)
_ROT = np.uint64(58)

# Columns of the (M, 6) uint64 state array.
S_HI, S_LO, INC_HI, INC_LO, HAS32, BUF32 = range(6)


@njit(cache=True, inline="always")
def _mulhi64(a, b):
    """High 64 bits of the 128-bit product of two uint64."""
    a0 = a & _M32
    a1 = a >> _U32
    b0 = b & _M32
    b1 = b >> _U32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    mid = (p00 >> _U32) + (p01 & _M32) + (p10 & _M32)
    return a1 * b1 + (p01 >> _U32) + (p10 >> _U32) + (mid >> _U32)


@njit(cache=True, inline="always")
def _step(hi, lo, inc_hi, inc_lo):
    """One PCG64 step: state * MULT + inc (mod 2^128) -> (hi, lo, 64-bit XSL-RR output)."""
    phi = _mulhi64(lo, _MUL_LO) + lo * _MUL_HI + hi * _MUL_LO
    plo = lo * _MUL_LO
    nlo = plo + inc_lo
    nhi = phi + inc_hi + (_ONE if nlo < plo else _ZERO)
    x = nhi ^ nlo
    rot = nhi >> _ROT
    return nhi, nlo, (x >> rot) | (x << ((_SIXTY4 - rot) & _SIXTY3))


@njit(cache=True, nogil=True)
def _permute_rows(st, out, lo, hi):
    """Rows lo..hi-1 of `out` (M, n) get the next permutation of range(n) of their stream:
    numpy's Fisher-Yates, j = random_interval(i) for i = n-1 .. 1, where random_interval
    draws buffered 32-bit halves (next_uint32) masked to the smallest 2^k - 1 >= i until <= i.
    (Only the 32-bit branch exists here: n < 2^31.) The state lives in locals per row."""
    n = out.shape[1]
    for m in range(lo, hi):
        s_hi, s_lo, inc_hi, inc_lo = st[m, S_HI], st[m, S_LO], st[m, INC_HI], st[m, INC_LO]
        has32 = st[m, HAS32] != _ZERO
        buf = st[m, BUF32]
        for i in range(n):
            out[m, i] = i
        for i in range(n - 1, 0, -1):
            mx = np.uint64(i)
            mask = mx
            mask |= mask >> np.uint64(1)
            mask |= mask >> np.uint64(2)
            mask |= mask >> np.uint64(4)
            mask |= mask >> np.uint64(8)
            mask |= mask >> np.uint64(16)
            while True:
                if has32:
                    has32 = False
                    v = buf
                else:
                    s_hi, s_lo, x = _step(s_hi, s_lo, inc_hi, inc_lo)
                    has32 = True
                    buf = x >> _U32
                    v = x & _M32
                v &= mask
                if v <= mx:
                    break
            j = np.int64(v)
            if j != i:
                tmp = out[m, i]
                out[m, i] = out[m, j]
                out[m, j] = tmp
        st[m, S_HI] = s_hi
        st[m, S_LO] = s_lo
        st[m, HAS32] = _ONE if has32 else _ZERO
        st[m, BUF32] = buf


def initial_states(seeds) -> np.ndarray:
    """The PCG64 states of `np.random.default_rng([seed, 1])` per seed, shape (M, 6) uint64."""
    seeds = np.atleast_1d(np.asarray(seeds))
    st = np.zeros((len(seeds), 6), dtype=np.uint64)
    mask = (1 << 64) - 1
    for m, seed in enumerate(seeds):
        s = np.random.PCG64(np.random.SeedSequence([int(seed), 1])).state
        state, inc = s["state"]["state"], s["state"]["inc"]
        st[m] = (state >> 64, state & mask, inc >> 64, inc & mask, s["has_uint32"], s["uinteger"])
    return st


def order_dtype(n: int) -> np.dtype:
    """The smallest index type for orders of n sequences (uint16 halves the GPU transfer)."""
    return np.dtype(np.uint16) if n <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


class OrderStream:
    """Per-epoch shuffle orders of many runs: `next()` -> array (M, n) for the next epoch.

    Row m of the e-th call equals `shuffle_orders(seeds[m], n, E)[e]` for any E > e.
    """

    def __init__(self, seeds, n: int, threads: int | None = None):
        if n < 0 or n > np.iinfo(np.int32).max:
            raise ValueError(f"number of training sequences out of range: {n}")
        self.n = int(n)
        self.state = initial_states(seeds)
        self.dtype = order_dtype(self.n)
        self.threads = max(1, min(threads or os.cpu_count() or 1, 16))

    def next(self, out: np.ndarray | None = None) -> np.ndarray:
        M = self.state.shape[0]
        if out is None:
            out = np.empty((M, self.n), dtype=self.dtype)
        if out.shape != (M, self.n):
            raise ValueError(f"orders buffer must have shape {(M, self.n)}, got {out.shape}")
        chunks = max(1, min(self.threads, M // 64))
        bounds = np.linspace(0, M, chunks + 1).astype(np.int64)
        if chunks == 1:
            _permute_rows(self.state, out, 0, M)
        else:
            with ThreadPoolExecutor(chunks) as pool:
                jobs = [pool.submit(_permute_rows, self.state, out, int(a), int(b))
                        for a, b in zip(bounds[:-1], bounds[1:])]
                for job in jobs:
                    job.result()
        return out
