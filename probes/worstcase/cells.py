"""One token of a hidden-size-1 cell, on sets of states and on single states.

`image(cell, P, num, tok, *box)` encloses every state torch can compute from a state in
`box` after token tok (0 '(', 1 ')'). A box is (h_lo, h_hi, 0, 0) for ReLU and GRU and
(o_lo, o_hi, c_lo, c_hi) for the LSTM, whose h = o tanh(c) is computed from the output gate
o that made it (`lstm_h`, `h_range`). `replica(cell, P, is32, tok, h, c)` is one step of one
concrete state, computed like torch (same operations and order, in the dtype): it finds
candidate words, which are then replayed on the torch module itself - it is never trusted
for a certificate. `readout_status` decides a box's outputs; `replica_wrong` one state's.

Parameter vector P (float64, `cell_params`): for token tok and gate k the four terms of the
gate's pre-activation at P[tok * 16 + 4 k : + 4] = (W_ih[k, tok], b_ih[k], b_hh[k],
W_hh[k]); gate order LSTM i f g o, GRU r z n, ReLU the single row. The readout at
P[32:36] = (w0, b0, w1, b1).

How a box's image is kept tight (`docs/verify.md`):
- every map is evaluated as a real function with an error bound (`numerics`): the image
  is [min F - E, max F + E], E bounding what rounding and the kernels can add anywhere in
  the box;
- ReLU: F is monotone in h, so min and max F are at the box's ends;
- GRU: where the derivative F'(h) over the box has one sign, likewise; otherwise the
  mean-value form F(m) + F'(box)(box - m);
- LSTM: see `_lstm_image` (corners where the partial derivatives have one sign, else the
  mean-value form).
The naive interval evaluation (always sound, often loose) is intersected with these.

The cells are those of `counting.cells` (ids from its registry, P regrouped from its flat
layout), but the maps here keep their own forms, held to the definition and to torch by
tests/test_cell_conformance.py (the replica within 1e-12 of torch, `image` a sound
enclosure of torch's next state): `replica` rounds every operation to the model's dtype
(`to_dtype`), so that one float64 kernel serves float32 models too, which the generic
step's operators cannot say; the enclosures are tighter than the generic step evaluated
on intervals would be, because they use the maps' monotonicity and derivatives (above).
"""

from __future__ import annotations

import math

import numpy as np

from counting.cells import layout
from counting.cells.registry import CELL_IDS
from counting.engine.jit import kernel as jit
from probes.worstcase.numerics import (
    NUM_ABS,
    NUM_IS32,
    NUM_KE,
    NUM_OVF,
    NUM_SIG_GATE,
    NUM_SIG_OUT,
    NUM_TANH_GATE,
    W64,
    direction,
    iv_mul,
    logistic_slope,
    q_add,
    q_affine,
    q_affine2,
    q_mul,
    q_neg,
    q_sigmoid,
    q_tanh,
    sigm,
    snap_hi,
    snap_lo,
    tanh_slope,
    to_dtype,
    widen,
)

LSTM, RELU, GRU = CELL_IDS["lstm"], CELL_IDS["relu"], CELL_IDS["gru"]
READOUT = 32
P_SIZE = 36


def cell_params(model) -> np.ndarray:
    """The (P_SIZE,) float64 parameter vector of a hidden-size-1 CounterRNN (its dtype's
    values, widened exactly): the model's flat vector (`counting.cells.layout`) regrouped
    by token and gate (the module docstring)."""
    vec = np.concatenate([p.detach().double().cpu().reshape(-1).numpy()
                          for p in model.parameters()])
    b = layout.blocks(vec, model.cell, 1)
    w_ih, b_ih, w_hh, b_hh = b["wih"], b["bih"], b["whh"], b["bhh"]
    P = np.zeros(P_SIZE)
    for tok in (0, 1):
        for k in range(w_ih.shape[0]):
            P[tok * 16 + 4 * k: tok * 16 + 4 * k + 4] = (w_ih[k, tok], b_ih[k], b_hh[k],
                                                          w_hh[k, 0])
    w, bo = b["wr"], b["br"]
    P[READOUT:] = (w[0, 0], bo[0], w[1, 0], bo[1])
    return P


# ---------------------------------------------------------------- gates on a box
@jit
def _terms(P, tok, k):
    base = tok * 16 + 4 * k
    return P[base], P[base + 1], P[base + 2], P[base + 3]


@jit
def _gate_pre(P, tok, k, h_lo, h_hi, num):
    base = tok * 16 + 4 * k
    return q_affine(P[base], P[base + 1], P[base + 2], P[base + 3], h_lo, h_hi, num)


@jit
def _sig_gate(P, tok, k, h_lo, h_hi, num):
    lo, hi, e = _gate_pre(P, tok, k, h_lo, h_hi, num)
    return q_sigmoid(lo, hi, e, num, num[NUM_SIG_GATE])


@jit
def _gate(P, num, tok, k, hlo, hhi, he, is_tanh):
    """Gate k from h (a quantity): sigmoid, or tanh for the LSTM's candidate g."""
    a1, a2, a3, w = _terms(P, tok, k)
    lo, hi, e = q_affine(a1, a2, a3, w, hlo, hhi, num, he)
    if is_tanh:
        return q_tanh(lo, hi, e, num, num[NUM_TANH_GATE])
    return q_sigmoid(lo, hi, e, num, num[NUM_SIG_GATE])


# ---------------------------------------------------------------- ReLU
@jit
def _relu_image(P, num, tok, h_lo, h_hi):
    lo, hi, e = _gate_pre(P, tok, 0, h_lo, h_hi, num)
    return max(lo - e, 0.0), max(hi + e, 0.0)


# ---------------------------------------------------------------- GRU
@jit
def _gru_eval(P, num, tok, h_lo, h_hi):
    """The GRU step over [h_lo, h_hi] in torch's form h' = (h - n) z + n. Returns the
    naive range and the error bound of h', with the error bound of the alternative form
    z h + (1 - z) n (oneDNN) folded in, and the gate ranges for the slope."""
    rlo, rhi, re = _sig_gate(P, tok, 0, h_lo, h_hi, num)
    zlo, zhi, ze = _sig_gate(P, tok, 1, h_lo, h_hi, num)
    base = tok * 16 + 8
    gilo, gihi, gie = q_affine(P[base], P[base + 1], 0.0, 0.0, 0.0, 0.0, num)  # W_in + b_in
    ghlo, ghhi, ghe = q_affine2(P[base + 3], P[base + 2], h_lo, h_hi, num)  # w_hn h + b_hn
    mlo, mhi, me = q_mul(rlo, rhi, re, ghlo, ghhi, ghe, num)
    alo, ahi, ae = q_add(gilo, gihi, gie, mlo, mhi, me, num)
    nlo, nhi, ne = q_tanh(alo, ahi, ae, num, num[NUM_TANH_GATE])
    nnlo, nnhi, nne = q_neg(nlo, nhi, ne)
    dlo, dhi, de = q_add(h_lo, h_hi, 0.0, nnlo, nnhi, nne, num)
    zdlo, zdhi, zde = q_mul(zlo, zhi, ze, dlo, dhi, de, num)
    olo, ohi, oe = q_add(zdlo, zdhi, zde, nlo, nhi, ne, num)
    # alternative form z h + (1 - z) n: only its error bound is used
    zhlo, zhhi, zhe = q_mul(zlo, zhi, ze, h_lo, h_hi, 0.0, num)
    nzlo, nzhi, nze = q_neg(zlo, zhi, ze)
    omlo, omhi, ome = q_add(1.0, 1.0, 0.0, nzlo, nzhi, nze, num)
    onlo, onhi, one = q_mul(omlo, omhi, ome, nlo, nhi, ne, num)
    _, _, oe2 = q_add(zhlo, zhhi, zhe, onlo, onhi, one, num)
    return olo, ohi, max(oe, oe2), rlo, rhi, zlo, zhi, nlo, nhi, ghlo, ghhi


@jit
def _gru_slope(P, num, tok, h_lo, h_hi):
    """Range (lo, hi, scale) of F'(h) over [h_lo, h_hi] for the GRU step F(h) = (h - n) z + n:
    F' = z + (1 - z) n' + z' (h - n),  n' = (1 - n^2)(r' gh_n + r w_hn)."""
    _, _, _, rlo, rhi, zlo, zhi, nlo, nhi, ghlo, ghhi = _gru_eval(P, num, tok, h_lo, h_hi)
    w_r, w_z, w_n = P[tok * 16 + 3], P[tok * 16 + 7], P[tok * 16 + 11]
    r1lo, r1hi = logistic_slope(rlo, rhi, w_r)
    z1lo, z1hi = logistic_slope(zlo, zhi, w_z)
    a1lo, a1hi = iv_mul(r1lo, r1hi, ghlo, ghhi)
    a2lo, a2hi = iv_mul(rlo, rhi, w_n, w_n)
    t1lo, t1hi = tanh_slope(nlo, nhi, 1.0)
    n1lo, n1hi = iv_mul(t1lo, t1hi, a1lo + a2lo, a1hi + a2hi)
    b1lo, b1hi = iv_mul(1.0 - zhi, 1.0 - zlo, n1lo, n1hi)
    b2lo, b2hi = iv_mul(z1lo, z1hi, h_lo - nhi, h_hi - nlo)
    scale = abs(zhi) + max(abs(b1lo), abs(b1hi)) + max(abs(b2lo), abs(b2hi))
    dlo, dhi = widen(zlo + b1lo + b2lo, zhi + b1hi + b2hi, scale)
    return dlo, dhi, scale


GRU_SPLITS = 3  # bisect a piece whose slope sign is unknown at most this deep (8 pieces)


@jit
def _gru_extremes(P, num, tok, h_lo, h_hi):
    """(min F, max F) over [h_lo, h_hi] (our estimates of the reference values): at the ends
    of every piece on which F' has one sign, else by the mean-value form on the piece;
    pieces are bisected up to GRU_SPLITS times."""
    stack = np.empty((GRU_SPLITS + 2, 3))
    stack[0, 0], stack[0, 1], stack[0, 2] = h_lo, h_hi, 0.0
    top = 1
    fmin, fmax = np.inf, -np.inf
    while top > 0:
        top -= 1
        a, b, depth = stack[top, 0], stack[top, 1], stack[top, 2]
        dlo, dhi, scale = _gru_slope(P, num, tok, a, b)
        if direction(dlo, dhi, scale) != 0 or a == b:
            fa = _gru_eval(P, num, tok, a, a)[0]
            fb = _gru_eval(P, num, tok, b, b)[0]
            lo, hi = min(fa, fb), max(fa, fb)
        elif depth < GRU_SPLITS:
            m = 0.5 * (a + b)
            stack[top, 0], stack[top, 1], stack[top, 2] = a, m, depth + 1
            stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = m, b, depth + 1
            top += 2
            continue
        else:  # mean-value form: F(m) + F'([a, b]) ([a, b] - m)
            m = 0.5 * (a + b)
            fm = _gru_eval(P, num, tok, m, m)[0]
            x1, x2 = iv_mul(dlo, dhi, a - m, b - m)
            lo, hi = fm + x1, fm + x2
        fmin, fmax = min(fmin, lo), max(fmax, hi)
    return fmin, fmax


@jit
def _gru_image(P, num, tok, h_lo, h_hi):
    lo, hi, e = _gru_eval(P, num, tok, h_lo, h_hi)[:3]
    if h_lo != h_hi:
        fmin, fmax = _gru_extremes(P, num, tok, h_lo, h_hi)
        lo, hi = max(lo, fmin), min(hi, fmax)
    return lo - e, hi + e


# ---------------------------------------------------------------- LSTM
@jit
def lstm_h(num, o_lo, o_hi, c_lo, c_hi):
    """h = o tanh(c) for (o, c) in the box, as torch computes it: a quantity (lo, hi, e).
    (o = 0 exactly gives h = 0 exactly: the initial state.)"""
    tlo, thi, te = q_tanh(c_lo, c_hi, 0.0, num, num[NUM_TANH_GATE])
    return q_mul(o_lo, o_hi, 0.0, tlo, thi, te, num)


@jit
def _lstm_eval(P, num, tok, hlo, hhi, he, c_lo, c_hi):
    """Naive evaluation of one LSTM step from h (a quantity) and c in [c_lo, c_hi]: the
    quantities c' and o' (the next output gate), and the gate ranges (for the slopes)."""
    ilo, ihi, ie = _gate(P, num, tok, 0, hlo, hhi, he, False)
    flo, fhi, fe = _gate(P, num, tok, 1, hlo, hhi, he, False)
    glo, ghi, ge = _gate(P, num, tok, 2, hlo, hhi, he, True)
    olo, ohi, oe = _gate(P, num, tok, 3, hlo, hhi, he, False)
    fclo, fchi, fce = q_mul(flo, fhi, fe, c_lo, c_hi, 0.0, num)
    iglo, ighi, ige = q_mul(ilo, ihi, ie, glo, ghi, ge, num)
    clo, chi, ce = q_add(fclo, fchi, fce, iglo, ighi, ige, num)
    return clo, chi, ce, olo, ohi, oe, ilo, ihi, flo, fhi, glo, ghi


@jit
def _lstm_at(P, num, tok, o, c):
    """c' (our float64 estimate of the reference value) from the single state (o, c)."""
    hlo, hhi, he = lstm_h(num, o, o, c, c)
    return _lstm_eval(P, num, tok, hlo, hhi, he, c, c)[0]


@jit
def _lstm_slopes(P, num, tok, o_lo, o_hi, c_lo, c_hi):
    """Ranges over the box of the partial derivatives of c'(o, c) = f(h) c + i(h) g(h),
    h = o tanh(c): (dc'/dc lo, hi, scale, dc'/do lo, hi, scale); widened by our tolerance."""
    hlo, hhi, he = lstm_h(num, o_lo, o_hi, c_lo, c_hi)
    (_, _, _, _, _, _, ilo, ihi, flo, fhi, glo, ghi) = _lstm_eval(
        P, num, tok, hlo, hhi, he, c_lo, c_hi)
    w_i, w_f, w_g = P[tok * 16 + 3], P[tok * 16 + 7], P[tok * 16 + 11]
    i1lo, i1hi = logistic_slope(ilo, ihi, w_i)
    f1lo, f1hi = logistic_slope(flo, fhi, w_f)
    g1lo, g1hi = tanh_slope(glo, ghi, w_g)
    # phi_h = dc'/dh at fixed c = f' c + i' g + i g'
    a1lo, a1hi = iv_mul(f1lo, f1hi, c_lo, c_hi)
    a2lo, a2hi = iv_mul(i1lo, i1hi, glo, ghi)
    a3lo, a3hi = iv_mul(ilo, ihi, g1lo, g1hi)
    pscale = (max(abs(a1lo), abs(a1hi)) + max(abs(a2lo), abs(a2hi))
              + max(abs(a3lo), abs(a3hi)))
    plo, phi = widen(a1lo + a2lo + a3lo, a1hi + a2hi + a3hi, pscale)
    tlo, thi = math.tanh(c_lo), math.tanh(c_hi)
    s1lo, s1hi = tanh_slope(tlo, thi, 1.0)
    hclo, hchi = iv_mul(o_lo, o_hi, s1lo, s1hi)  # dh/dc = o (1 - tanh^2 c)
    b1lo, b1hi = iv_mul(plo, phi, hclo, hchi)
    cscale = fhi + max(abs(b1lo), abs(b1hi))
    dclo, dchi = widen(flo + b1lo, fhi + b1hi, cscale)  # dc'/dc = f + phi_h dh/dc
    dolo, dohi = iv_mul(plo, phi, tlo - 4.0 * W64, thi + 4.0 * W64)  # dc'/do = phi_h tanh c
    oscale = max(abs(dolo), abs(dohi))
    dolo, dohi = widen(dolo, dohi, oscale)
    return dclo, dchi, cscale, dolo, dohi, oscale


@jit
def _lstm_extreme(P, num, tok, o_lo, o_hi, c_lo, c_hi, upper):
    """Bound of c' over the box: its max if `upper`, else its min (our estimate of the
    reference value; the caller adds the error bound). Where c' is monotone in a variable
    the extreme lies at that variable's end; the other variable is then a corner too, or
    bounded by the mean-value form on the slice."""
    dclo, dchi, cs, dolo, dohi, osc = _lstm_slopes(P, num, tok, o_lo, o_hi, c_lo, c_hi)
    sc = 1 if c_lo == c_hi else direction(dclo, dchi, cs)
    so = 1 if o_lo == o_hi else direction(dolo, dohi, osc)
    sign = 1 if upper else -1
    if sc != 0:
        c = c_hi if sc * sign > 0 else c_lo
        if so == 0:  # slope in o on the slice c = c*
            _, _, _, dolo, dohi, osc = _lstm_slopes(P, num, tok, o_lo, o_hi, c, c)
            so = 1 if o_lo == o_hi else direction(dolo, dohi, osc)
        if so != 0:
            return _lstm_at(P, num, tok, o_hi if so * sign > 0 else o_lo, c)
        mo = 0.5 * (o_lo + o_hi)
        x1, x2 = iv_mul(dolo, dohi, o_lo - mo, o_hi - mo)
        return _lstm_at(P, num, tok, mo, c) + (x2 if upper else x1)
    if so != 0:
        o = o_hi if so * sign > 0 else o_lo
        dclo, dchi, cs, _, _, _ = _lstm_slopes(P, num, tok, o, o, c_lo, c_hi)
        sc = direction(dclo, dchi, cs)
        if sc != 0:
            return _lstm_at(P, num, tok, o, c_hi if sc * sign > 0 else c_lo)
        mc = 0.5 * (c_lo + c_hi)
        x1, x2 = iv_mul(dclo, dchi, c_lo - mc, c_hi - mc)
        return _lstm_at(P, num, tok, o, mc) + (x2 if upper else x1)
    mo, mc = 0.5 * (o_lo + o_hi), 0.5 * (c_lo + c_hi)  # mean-value form in both
    x1, x2 = iv_mul(dclo, dchi, c_lo - mc, c_hi - mc)
    y1, y2 = iv_mul(dolo, dohi, o_lo - mo, o_hi - mo)
    return _lstm_at(P, num, tok, mo, mc) + ((x2 + y2) if upper else (x1 + y1))


@jit
def _lstm_image(P, num, tok, o_lo, o_hi, c_lo, c_hi):
    """Enclosure of (o', c') from the box (o, c) in [o_lo, o_hi] x [c_lo, c_hi].

    The state is kept as (o, c) - the output gate that made h, and the cell - because h =
    o tanh(c) follows c along a curve: a box in (h, c) holds unreachable corners that the
    next step maps far outside the reachable set (the wrapping effect); a box in (o, c) is
    thin, as o varies little. o' is monotone in h, h monotone in o and in c, so the naive
    evaluation of o' is tight; c' uses `_lstm_extreme`."""
    hlo, hhi, he = lstm_h(num, o_lo, o_hi, c_lo, c_hi)
    (clo, chi, ce, olo, ohi, oe, _, _, _, _, _, _) = _lstm_eval(
        P, num, tok, hlo, hhi, he, c_lo, c_hi)
    if hlo != hhi and (c_lo != c_hi or o_lo != o_hi):
        clo = max(clo, _lstm_extreme(P, num, tok, o_lo, o_hi, c_lo, c_hi, False))
        chi = min(chi, _lstm_extreme(P, num, tok, o_lo, o_hi, c_lo, c_hi, True))
    return olo - oe, ohi + oe, clo - ce, chi + ce


# ---------------------------------------------------------------- dispatch
@jit
def image(cell, P, num, tok, b0, b1, b2, b3):
    """Enclosure of every state torch computes from a state of the box after token tok;
    dtype-grid values (float32 bounds snapped inwards). Boxes are (h_lo, h_hi, 0, 0) for
    ReLU and GRU, (o_lo, o_hi, c_lo, c_hi) for the LSTM (h = o tanh(c), `lstm_h`)."""
    is32 = num[NUM_IS32] != 0.0
    if not _computable(cell, P, num, tok, b0, b1, b2, b3):
        return np.nan, np.nan, np.nan, np.nan
    if cell == RELU:
        a, b = _relu_image(P, num, tok, b0, b1)
        c, d = 0.0, 0.0
    elif cell == GRU:
        a, b = _gru_image(P, num, tok, b0, b1)
        c, d = 0.0, 0.0
    else:
        a, b, c, d = _lstm_image(P, num, tok, b0, b1, b2, b3)
    a, b, c, d = snap_lo(a, is32), snap_hi(b, is32), snap_lo(c, is32), snap_hi(d, is32)
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c) and math.isfinite(d)
            and a <= b and c <= d):
        return np.nan, np.nan, np.nan, np.nan
    return a, b, c, d


@jit
def _computable(cell, P, num, tok, b0, b1, b2, b3):
    """The box is not lost (every bound finite) and no sum in one step from it can reach
    NUM_OVF: then no quantity of the step is lost (numerics), so no NaN can be dropped by
    a min or max on the way (a lost box stays lost: NaN, see rows._merge_into)."""
    M = 1.0
    for x in (b0, b1, b2, b3):
        if not math.isfinite(x):
            return False
        M = max(M, abs(x))
    if cell == RELU:
        return True  # one q_affine, then max: a lost quantity stays lost (nan first)
    S = 1.0
    for j in range(16):
        v = abs(P[tok * 16 + j])
        if not v <= num[NUM_OVF]:
            return False
        S = max(S, v)
    return 64.0 * S * (M + 2.0) <= num[NUM_OVF]


@jit
def h_range(cell, num, b0, b1, b2, b3):
    """Enclosure [lo, hi] (dtype values) of torch's h over a box (nan: lost)."""
    if cell != LSTM:
        return b0, b1
    lo, hi, e = lstm_h(num, b0, b1, b2, b3)
    is32 = num[NUM_IS32] != 0.0
    return snap_lo(lo - e, is32), snap_hi(hi + e, is32)


@jit
def _output_bounds(w, b, h_lo, h_hi, num):
    """(surely > 1/2, surely <= 1/2) for sigmoid(w h + b) over h in [h_lo, h_hi], as the
    readout computes it. A logit beyond +-8 KE decides without evaluating the sigmoid:
    sigmoid(x) >= 1/2 + x/4 - x^3/48 puts the kernel's value, within KE relative and ABS
    absolute error, on the right side of 1/2."""
    llo, lhi, le = q_affine2(w, b, h_lo, h_hi, num)
    margin = 8.0 * num[NUM_KE] + 4.0 * num[NUM_ABS]
    if llo - le > margin:
        return True, False
    if lhi + le < -margin:
        return False, True
    ylo, yhi, ye = q_sigmoid(llo, lhi, le, num, num[NUM_SIG_OUT])
    return ylo - ye > 0.5, yhi + ye <= 0.5


@jit
def readout_status(P, num, h_lo, h_hi, depth):
    """0 if every state of [h_lo, h_hi] gives right outputs at this depth (certified),
    2 if every state gives a wrong one, 1 if undecided (or not finite)."""
    status = 0
    for j in range(2):
        above, below = _output_bounds(P[READOUT + 2 * j], P[READOUT + 2 * j + 1], h_lo, h_hi,
                                      num)
        want = True if j == 0 else depth > 0
        ok, bad = (above, below) if want else (below, above)
        if not ok:
            status = max(status, 2 if bad else 1)
    return status


# ---------------------------------------------------------------- one concrete state
@jit
def _sig(x, is32):
    return to_dtype(sigm(x), is32)


@jit
def _tanh(x, is32):
    return to_dtype(math.tanh(x), is32)


@jit
def _pre(P, tok, k, h, is32):
    """(W_hh h + b_hh) + (W_ih x + b_ih), as torch orders it."""
    base = tok * 16 + 4 * k
    gh = to_dtype(to_dtype(P[base + 3] * h, is32) + P[base + 2], is32)
    gi = to_dtype(P[base] + P[base + 1], is32)
    return gh, gi


@jit
def replica(cell, P, is32, tok, h, c):
    """One step of one state, like torch computes it (in the dtype). -> (h', c', o') (o' the
    LSTM's output gate; 0 for the other cells)."""
    if cell == RELU:
        gh, gi = _pre(P, tok, 0, h, is32)
        return max(to_dtype(gh + gi, is32), 0.0), 0.0, 0.0
    if cell == GRU:
        rh, ri = _pre(P, tok, 0, h, is32)
        zh, zi = _pre(P, tok, 1, h, is32)
        nh, ni = _pre(P, tok, 2, h, is32)
        r = _sig(to_dtype(rh + ri, is32), is32)
        z = _sig(to_dtype(zh + zi, is32), is32)
        n = _tanh(to_dtype(ni + to_dtype(r * nh, is32), is32), is32)
        return to_dtype(to_dtype(to_dtype(h - n, is32) * z, is32) + n, is32), 0.0, 0.0
    gh, gi = _pre(P, tok, 0, h, is32)
    i = _sig(to_dtype(gh + gi, is32), is32)
    gh, gi = _pre(P, tok, 1, h, is32)
    f = _sig(to_dtype(gh + gi, is32), is32)
    gh, gi = _pre(P, tok, 2, h, is32)
    g = _tanh(to_dtype(gh + gi, is32), is32)
    gh, gi = _pre(P, tok, 3, h, is32)
    o = _sig(to_dtype(gh + gi, is32), is32)
    c2 = to_dtype(to_dtype(f * c, is32) + to_dtype(i * g, is32), is32)
    return to_dtype(o * _tanh(c2, is32), is32), c2, o


@jit
def replica_wrong(P, is32, h, depth):
    """The replica's outputs at state h may be wrong at this depth: a *candidate*, replayed
    on torch, which decides (NaN counts as wrong). Away from 0 the sign of the logit decides
    sigmoid(logit) > 1/2 in either dtype. A logit within 1e-6 plus its rounding of 0 is a
    candidate whatever its sign: torch's kernel (within 16 ulp) or its fused w h + b may
    fall on either side of 1/2 (a float32 sigmoid(1.2e-7) is 0.5 rounded correctly, but
    0.50000006 from torch); an exact 0 gives exactly 1/2 (numerics)."""
    u = 2.0**-24 if is32 else 2.0**-53
    for j in range(2):
        w, b = P[READOUT + 2 * j], P[READOUT + 2 * j + 1]
        logit = to_dtype(to_dtype(w * h, is32) + b, is32)
        if not (logit == logit):
            return True
        want = True if j == 0 else depth > 0
        if logit == 0.0:
            above = False
        elif abs(logit) > 1e-6 + 4.0 * u * (abs(w * h) + abs(b)):
            above = logit > 0.0
        else:
            return True
        if above != want:
            return True
    return False
