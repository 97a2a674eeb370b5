"""Sound enclosures of what torch computes: the error model and interval-with-error arithmetic.

A quantity is a triple (lo, hi, e): there is a *reference* value v in [lo, hi] with
|v~ - v| <= e for the value v~ that torch computes (in the model's dtype). Every operation
below maps such triples to a triple for its result. The reference values are real
functions of the exact float inputs, except that a gate the kernel saturates (below) has
the reference value 1 (or -1), so the reference functions stay smooth where they matter.

What is assumed about torch's CPU arithmetic (see docs/verify.md):

- + and * are IEEE operations in the model's dtype with round-to-nearest, in any order and
  association, and a product may be fused with the addition it feeds (addmm with FMA). A
  sum of n terms then errs by at most (n - 1) u sum|terms| (+ u |product| per unfused
  product), u = 2^-24 (float32) or 2^-53 (float64). Underflow adds at most the smallest
  normal number per operation (covering flush-to-zero).
- sigmoid and tanh kernels (torch's, and oneDNN's inside a float32 nn.LSTM) are within
  KERNEL_ULPS = 16 ulp of the true function, plus an absolute 16 x the smallest normal
  number (float32 sigmoid flushes tiny results to 0). Measured maximum on this machine
  over 3.2 million points per kernel (long-double reference): 3.92 ulp (oneDNN float32
  sigmoid, for x < -60), 2.39 ulp (float64 sigmoid), 2.34 ulp (float32 sigmoid), 1.21 ulp
  (oneDNN float32 tanh), 0.63 ulp (tanh); `measure_kernel_error` re-measures it and
  tests/test_verify_numerics.py requires less than KERNEL_ULPS / 2. Kernel values lie in
  [0, 1] / [-1, 1] (measured, not used).
- A kernel saturates exactly: sigmoid(x) == 1.0 for x >= its saturation threshold, and
  tanh(+-x) == +-1.0 for x >= its threshold (`constructions.saturation_threshold`, probed
  on torch's kernels). This keeps the exact constructions exact at any length. And
  sigmoid(0) == 0.5 exactly (a logit that is exactly 0 gives an output that is not > 0.5).
- Our own float64 evaluation: libm's exp and tanh within 2 ulp (glibc: < 1 and 2 ulp);
  everything else is IEEE float64. Our rounding is added to every error bound (the W64
  terms), so the enclosure covers the reference value exactly, not our estimate of it.

Exactness: when every input of an operation is a point with e = 0 and the result is
exactly representable in the dtype in any order of evaluation, the result has e = 0 (no
rounding happens). A float32 result is then snapped to the float32 grid (`snap_lo`,
`snap_hi`): an exact counter stays a point at any length.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import types
from numba.cpython.unsafe.numbers import trailing_zeros, viewer

from counting.engine.intrinsics import fma
from counting.engine.jit import kernel as jit
from probes.worstcase.jitcache import refresh

refresh()  # before any kernel of this package is compiled or loaded

W64 = 2.0**-53  # our own unit roundoff (float64)
KERNEL_ULPS = 16.0  # assumed bound on a sigmoid/tanh kernel's error, in ulp (measured < 4)
SLACK = 1.0 + 2.0**-30  # relative slack on every error bound (covers rounding in computing it)

# Layout of the numeric-configuration vector `num` the kernels read.
NUM_U, NUM_KE, NUM_ABS, NUM_TINY, NUM_SIG_GATE, NUM_TANH_GATE, NUM_SIG_OUT, NUM_IS32 = range(8)
NUM_OVF = 8  # a sum whose magnitudes add up beyond this may have overflowed in torch
NUM_SIZE = 9


def numeric_config(dtype: torch.dtype, gate_kernel: str | None) -> np.ndarray:
    """The (NUM_SIZE,) float64 configuration of a model's arithmetic.

    gate_kernel: 'lstm', 'gru' (the kernels of nn.LSTM / nn.GRU) or None (ReLU: no gates).
    The readout sigmoid is torch.sigmoid ('torch').
    """
    from constructions.saturation import saturation_threshold

    fin = torch.finfo(dtype)
    p = 24 if dtype == torch.float32 else 53  # significand bits
    num = np.zeros(NUM_SIZE)
    num[NUM_U] = 2.0**-p
    num[NUM_KE] = KERNEL_ULPS * fin.eps + 16 * W64
    num[NUM_TINY] = fin.tiny
    num[NUM_ABS] = 16 * fin.tiny
    if gate_kernel is None:
        num[NUM_SIG_GATE] = num[NUM_TANH_GATE] = np.inf
    else:
        num[NUM_SIG_GATE] = saturation_threshold("sigmoid", dtype, gate_kernel)
        num[NUM_TANH_GATE] = saturation_threshold("tanh", dtype, gate_kernel)
    num[NUM_SIG_OUT] = saturation_threshold("sigmoid", dtype, "torch")
    num[NUM_IS32] = 1.0 if dtype == torch.float32 else 0.0
    # every partial sum of <= 8 terms is <= T (1 + u)^8 < max when T <= max (1 - 2^-10)
    num[NUM_OVF] = fin.max * (1.0 - 2.0**-10)
    return num


# ---------------------------------------------------------------- float64 functions
@jit
def sigm(x):
    """Logistic function in float64 (relative error <= 6 W64 with libm exp)."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    ex = math.exp(x)
    return ex / (1.0 + ex)


@jit
def nearest_to_zero(lo, hi):
    """The point of [lo, hi] closest to 0."""
    if lo > 0.0:
        return lo
    if hi < 0.0:
        return hi
    return 0.0


@jit
def sig_slope_max(lo, hi):
    """max of sigmoid' = s (1 - s) over [lo, hi] (it decreases with |x|)."""
    s = sigm(nearest_to_zero(lo, hi))
    return s * (1.0 - s) * SLACK


@jit
def tanh_slope_max(lo, hi):
    """max of tanh' = 1 - tanh^2 over [lo, hi]."""
    y = math.tanh(nearest_to_zero(lo, hi))
    return (1.0 - y * y) * SLACK + 4.0 * W64


# ---------------------------------------------------------------- exactness
@jit
def low_bit(x):
    """Exponent of the lowest set bit of a finite nonzero float64: x = m 2^low_bit(x),
    m an odd integer (read off the bits)."""
    bits = viewer(x, types.int64)
    ex = (bits >> 52) & 0x7FF
    mant = bits & 0xFFFFFFFFFFFFF
    if ex == 0:  # subnormal
        return -1074 + trailing_zeros(mant)
    return ex - 1075 + trailing_zeros(mant | 0x10000000000000)


@jit
def fits(x, is32):
    """x (a float64) is a value of the model's dtype."""
    if is32:
        return np.float64(np.float32(x)) == x
    return True


@jit
def product_exact(a, b, is32):
    """a*b (floats of the dtype) is exact in float64 and representable in the dtype."""
    p = a * b
    if not math.isfinite(p):
        return False
    if fma(a, b, -p) != 0.0:
        return False
    return fits(p, is32)


@jit
def grid_exact(t0, t1, t2, t3, is32):
    """True if every partial sum of the terms, in any order, is exactly representable in the
    dtype: all terms are dtype values, multiples of a common 2^q, and sum|t| <= 2^(p+q)."""
    q = 100000
    total = 0.0
    for t in (t0, t1, t2, t3):
        if t != 0.0:
            if not math.isfinite(t) or not fits(t, is32):
                return False
            q = min(q, low_bit(t))
            total += abs(t)
    if total == 0.0:
        return True
    p = 24 if is32 else 53
    return total <= math.ldexp(1.0, p + q)


# ---------------------------------------------------------------- float32 grid
@jit
def snap_lo(x, is32):
    """The smallest dtype value >= x (x a float64 lower bound of a dtype value)."""
    if not is32 or not math.isfinite(x):
        return x
    v = np.float32(x)
    if not math.isfinite(v):
        return np.nan  # beyond the float32 range: the caller's box is lost
    if np.float64(v) < x:
        v = np.nextafter(v, np.float32(np.inf))
    return np.float64(v)


@jit
def snap_hi(x, is32):
    """The largest dtype value <= x."""
    if not is32 or not math.isfinite(x):
        return x
    v = np.float32(x)
    if not math.isfinite(v):
        return np.nan  # beyond the float32 range: the caller's box is lost
    if np.float64(v) > x:
        v = np.nextafter(v, np.float32(-np.inf))
    return np.float64(v)


@jit
def to_dtype(x, is32):
    """Round a float64 to the dtype (round to nearest): the replica's rounding."""
    if is32:
        return np.float64(np.float32(x))
    return x


# ---------------------------------------------------------------- quantities
# A *lost* quantity is (nan, nan, nan): nothing is known of it (an input was lost or not
# finite, or torch may have overflowed: some sum of magnitudes exceeds NUM_OVF, beyond
# which the error model, which has no overflow, does not hold). Every operation maps a lost
# input to a lost result, and a box with a lost bound certifies nothing.
@jit
def lost3():
    return np.nan, np.nan, np.nan


@jit
def finite3(a, b, c):
    return math.isfinite(a) and math.isfinite(b) and math.isfinite(c)


@jit
def q_affine(a1, a2, a3, w, h_lo, h_hi, num, he=0.0):
    """A gate pre-activation a1 + a2 + a3 + w h for h in [h_lo, h_hi] computed with error at
    most he (he = 0: h is exactly a float of the box): four terms summed in any order, the
    product possibly fused. -> (lo, hi, e)."""
    U, tiny, is32 = num[NUM_U], num[NUM_TINY], num[NUM_IS32] != 0.0
    if not (finite3(h_lo, h_hi, he) and finite3(a1, a2, a3) and math.isfinite(w)):
        return lost3()
    H = max(abs(h_lo), abs(h_hi)) + he
    T = abs(a1) + abs(a2) + abs(a3) + abs(w) * H
    if not T <= num[NUM_OVF]:
        return lost3()
    c0 = (a1 + a2) + a3
    p1 = c0 + w * h_lo
    p2 = c0 + w * h_hi
    lo, hi = min(p1, p2), max(p1, p2)
    if w == 0.0 and math.isfinite(h_lo) and math.isfinite(h_hi) and math.isfinite(he):
        if grid_exact(a1, a2, a3, 0.0, is32):
            return c0, c0, 0.0  # w h is exactly 0
    elif he == 0.0 and h_lo == h_hi and product_exact(w, h_lo, is32) and grid_exact(
            a1, a2, a3, w * h_lo, is32):
        return lo, hi, 0.0
    return lo, hi, (abs(w) * he + (4.0 * U + 5.0 * W64) * T + 5.0 * tiny) * SLACK


@jit
def q_affine2(w, b, h_lo, h_hi, num):
    """w h + b (addmm of one product and one bias, possibly fused)."""
    return q_affine(b, 0.0, 0.0, w, h_lo, h_hi, num)


@jit
def q_sigmoid(lo, hi, e, num, sat):
    """A sigmoid kernel (saturating at `sat`, and exactly 1/2 at an exact 0) applied to the
    quantity (lo, hi, e)."""
    if not finite3(lo, hi, e):
        return lost3()
    if lo - e >= sat:
        return 1.0, 1.0, 0.0
    if lo == 0.0 and hi == 0.0 and e == 0.0:
        return 0.5, 0.5, 0.0
    ylo, yhi = sigm(lo), sigm(hi)
    top = sigm(hi + e)
    err = sig_slope_max(lo - e, hi + e) * e + num[NUM_KE] * top + num[NUM_ABS]
    return ylo, yhi, err * SLACK


@jit
def q_tanh(lo, hi, e, num, sat):
    """A tanh kernel (saturating at +-`sat`) applied to (lo, hi, e)."""
    if not finite3(lo, hi, e):
        return lost3()
    if lo - e >= sat:
        return 1.0, 1.0, 0.0
    if hi + e <= -sat:
        return -1.0, -1.0, 0.0
    ylo, yhi = math.tanh(lo), math.tanh(hi)
    top = max(abs(math.tanh(lo - e)), abs(math.tanh(hi + e)))
    err = tanh_slope_max(lo - e, hi + e) * e + num[NUM_KE] * top + num[NUM_ABS]
    return ylo, yhi, err * SLACK


@jit
def q_mul(alo, ahi, ae, blo, bhi, be, num):
    """Product of two quantities (one rounding). An exact 0 times a finite quantity is an
    exact 0."""
    if not (finite3(alo, ahi, ae) and finite3(blo, bhi, be)):
        return lost3()
    p1, p2, p3, p4 = alo * blo, alo * bhi, ahi * blo, ahi * bhi
    lo = min(min(p1, p2), min(p3, p4))
    hi = max(max(p1, p2), max(p3, p4))
    if (alo == 0.0 and ahi == 0.0 and ae == 0.0 and math.isfinite(blo + bhi + be)) or (
            blo == 0.0 and bhi == 0.0 and be == 0.0 and math.isfinite(alo + ahi + ae)):
        return 0.0, 0.0, 0.0
    if ae == 0.0 and be == 0.0 and alo == ahi and blo == bhi and product_exact(
            alo, blo, num[NUM_IS32] != 0.0):
        return lo, hi, 0.0
    Ma, Mb = max(abs(alo), abs(ahi)), max(abs(blo), abs(bhi))
    prop = Ma * be + Mb * ae + ae * be
    Mp = max(abs(lo), abs(hi)) + prop
    if not Mp <= num[NUM_OVF]:
        return lost3()
    return lo, hi, (prop + (num[NUM_U] + W64) * Mp + num[NUM_TINY]) * SLACK


@jit
def q_add(alo, ahi, ae, blo, bhi, be, num):
    """Sum of two quantities (one rounding)."""
    if not (finite3(alo, ahi, ae) and finite3(blo, bhi, be)):
        return lost3()
    lo, hi = alo + blo, ahi + bhi
    is32 = num[NUM_IS32] != 0.0
    if ae == 0.0 and be == 0.0 and alo == ahi and blo == bhi and grid_exact(
            alo, blo, 0.0, 0.0, is32):
        return lo, hi, 0.0
    M = max(abs(alo), abs(ahi)) + max(abs(blo), abs(bhi)) + ae + be
    if not M <= num[NUM_OVF]:
        return lost3()
    return lo, hi, (ae + be + (num[NUM_U] + W64) * M + num[NUM_TINY]) * SLACK


@jit
def q_neg(lo, hi, e):
    return -hi, -lo, e


# ---------------------------------------------------------------- slopes (derivatives)
@jit
def iv_mul(alo, ahi, blo, bhi):
    p1, p2, p3, p4 = alo * blo, alo * bhi, ahi * blo, ahi * bhi
    return min(min(p1, p2), min(p3, p4)), max(max(p1, p2), max(p3, p4))


@jit
def logistic_slope(slo, shi, w):
    """Range of s (1 - s) w for s in [slo, shi] (the derivative of a sigmoid gate with
    weight w on h, given the gate's range); 0 for a saturated gate (slo == shi == 1)."""
    if slo == 1.0 and shi == 1.0:
        return 0.0, 0.0
    a, b = slo * (1.0 - slo), shi * (1.0 - shi)
    vlo = min(a, b)
    vhi = 0.25 if slo <= 0.5 <= shi else max(a, b)
    return iv_mul(vlo, vhi, w, w)


@jit
def tanh_slope(ylo, yhi, w):
    """Range of (1 - y^2) w for y in [ylo, yhi]; 0 for a saturated tanh."""
    if (ylo == 1.0 and yhi == 1.0) or (ylo == -1.0 and yhi == -1.0):
        return 0.0, 0.0
    a, b = 1.0 - ylo * ylo, 1.0 - yhi * yhi
    vlo = max(min(a, b), 0.0)
    vhi = 1.0 if ylo <= 0.0 <= yhi else max(a, b)
    return iv_mul(vlo, vhi, w, w)


@jit
def direction(dlo, dhi, scale):
    """+1 if a derivative with range [dlo, dhi] is surely >= 0, -1 if surely <= 0, 0 if its
    sign is unknown. `scale` bounds the magnitude of the terms that were summed."""
    if scale == 0.0:
        return 1  # constant
    tol = 1e-9 * scale
    if dlo > tol:
        return 1
    if dhi < -tol:
        return -1
    return 0


@jit
def widen(dlo, dhi, scale):
    """A derivative range widened by the tolerance of `direction` (our own rounding)."""
    tol = 1e-9 * scale
    return dlo - tol, dhi + tol


def measure_kernel_error(fn: str, kernel: str, dtype: torch.dtype, n: int = 200_000,
                         seed: int = 0) -> float:
    """Largest error of a torch kernel beyond the assumed absolute term (16 x the smallest
    normal), in ulp of the true value, over random points: log-uniform magnitudes 1e-12..150
    of both signs, uniform in [-20, 20] and in the far tail [-110, -50]. The true value is
    computed in long double."""
    from constructions.saturation import kernel_values

    rng = np.random.default_rng(seed)
    mag = np.exp(rng.uniform(np.log(1e-12), np.log(150.0), n))
    x = np.concatenate([mag, -mag, rng.uniform(-20.0, 20.0, n), rng.uniform(-110, -50, n)])
    x = torch.as_tensor(x).to(dtype).double().numpy()
    X = x.astype(np.longdouble)
    ref = 1 / (1 + np.exp(-X)) if fn == "sigmoid" else np.tanh(X)
    got = kernel_values(fn, x, dtype, kernel).astype(np.longdouble)
    fin = torch.finfo(dtype)
    p = 24 if dtype == torch.float32 else 53
    mag_ref = np.maximum(np.abs(ref), fin.tiny).astype(np.float64)
    ulp = np.ldexp(1.0, np.frexp(mag_ref)[1] - p).astype(np.longdouble)
    excess = np.maximum(np.abs(got - ref) - 16 * fin.tiny, 0) / ulp
    return float(np.max(excess))
