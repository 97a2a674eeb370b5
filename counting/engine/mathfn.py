"""Activations for the kernels: scalar ones for training, branch-free ones for evaluation.

Training (latency-bound recurrences, one model per thread):
    sigmoid(x) = 1 / (1 + exp(-x))  - torch's own formula for the CPU sigmoid, libm's exp;
    tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|) - within 2.3e-16 absolute of libm's
    tanh (which torch calls) over the whole line, with about half its latency.
Evaluation (many models of one cell at once, one per SIMD lane): the same formulas over
`vexp`, an exp written in plain arithmetic so that LLVM vectorizes it across lanes:
    x = clamp(x, -708, 709) (NaN kept);  k = round(x / ln 2);  r = x - k ln 2 (two fmas)
    exp(x) = 2^k (1 + r + r^2 (1/2! + r/3! + ... + r^11/13!))   (|r| <= ln2/2, Estrin)
It is within 1 ulp of libm's exp (tests check it). Outside [-708, 709] it returns
exp(+-708/709) instead of 0/inf, which changes no sigmoid or tanh by more than 1e-307.
"""

from __future__ import annotations

import math

import numpy as np

from counting.jit import as_float, fma, inline

INV_LN2 = 1.0 / math.log(2.0)
LN2_HI = 0.6931471805599453  # float(ln 2)
LN2_LO = 2.3190468138462996e-17  # ln 2 - LN2_HI
_C = [1.0 / math.factorial(n) for n in range(14)]
C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13 = _C[2:]


@inline
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@inline
def tanh(x):
    e = math.exp(-2.0 * abs(x))
    r = (1.0 - e) / (1.0 + e)
    return r if x >= 0.0 else -r


@inline
def vexp(x):
    x = -708.0 if x < -708.0 else x
    x = 709.0 if x > 709.0 else x
    kd = np.floor(x * INV_LN2 + 0.5)
    kd = kd if kd == kd else 0.0  # NaN: keep the integer conversion defined; p is NaN
    r = fma(-kd, LN2_HI, x)
    r = fma(-kd, LN2_LO, r)
    # 1 + r + r^2 q(r), q = C2 + C3 r + ... + C13 r^11 by Estrin's scheme (depth 5)
    r2 = r * r
    r4 = r2 * r2
    b0 = fma(fma(C5, r, C4), r2, fma(C3, r, C2))
    b1 = fma(fma(C9, r, C8), r2, fma(C7, r, C6))
    b2 = fma(fma(C13, r, C12), r2, fma(C11, r, C10))
    p = fma(fma(fma(b2, r4, b1), r4, b0), r2, r)
    s = as_float((np.int64(kd) + 1023) << 52)
    return fma(s, p, s)


@inline
def vsigmoid(x):
    return 1.0 / (1.0 + vexp(-x))


@inline
def vtanh(x):
    e = vexp(-2.0 * abs(x))
    r = (1.0 - e) / (1.0 + e)
    return r if x >= 0.0 else -r
