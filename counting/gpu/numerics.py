"""Typed constants and scalar functions for kernels of one float type.

Inside float32 kernels a Python float literal (e.g. `1.0`) is a float64 constant and drags the
arithmetic into float64; every constant a kernel uses therefore comes from here, already of
the kernel's type. On the simulator the functions are numpy's (they return inf/nan where
Python's `math` would raise, as the GPU does); on a GPU they are `math`'s, which numba maps to
CUDA's libdevice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class Numerics:
    dtype: np.dtype
    sim: bool
    cast: object  # dtype constructor usable inside kernels
    cast64: object  # float64 constructor usable inside kernels
    nbtype: object  # numba type, for cuda.local.array
    exp: object
    tanh: object
    log: object
    log1p: object
    sqrt: object
    ZERO: object
    ONE: object
    HALF: object
    # torch's Adam defaults (betas (0.9, 0.999), eps 1e-8) as torch feeds them to its kernels
    B1W: object  # lerp weight 1 - beta1
    B2: object  # beta2
    B2W: object  # addcmul value 1 - beta2
    EPS: object
    LOG_FLOOR: object  # torch's BCE clamps log at -100
    BCE_EPS: object  # torch's BCE backward: max((1 - p) p, 1e-12)


def numerics(dtype, sim: bool) -> Numerics:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"kernels support float32 and float64, got {dt}")
    T = dt.type
    nbtype = numba.from_dtype(dt)
    fns = (np.exp, np.tanh, np.log, np.log1p, np.sqrt) if sim else (
        math.exp, math.tanh, math.log, math.log1p, math.sqrt)
    return Numerics(
        dtype=dt, sim=sim, cast=T if sim else nbtype, nbtype=nbtype,
        cast64=np.float64 if sim else numba.float64,
        exp=fns[0], tanh=fns[1], log=fns[2], log1p=fns[3], sqrt=fns[4],
        ZERO=T(0.0), ONE=T(1.0), HALF=T(0.5),
        B1W=T(1 - 0.9), B2=T(0.999), B2W=T(1 - 0.999), EPS=T(1e-8),
        LOG_FLOOR=T(-100.0), BCE_EPS=T(1e-12),
    )
