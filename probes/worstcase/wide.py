"""Hidden size > 1: sound box bounds and a witness search (method "bound").

One box per (position, depth) cell encloses every state torch computes there: h (and c for
the LSTM) per unit, in plain interval arithmetic with the error model of `numerics` (the
same assumptions: IEEE sums in any order, products possibly fused, kernels within
KERNEL_ULPS ulp and saturating). A matrix-vector product of H terms is a sum of H + 3
terms (with both biases) in any order. The box is the hull over both parents, so it grows
with every step (the wrapping effect in H dimensions): the certificate is usually far
shorter than the failure found, and verify labels the result "bound" unless they meet.

The witness search keeps, per cell, four concrete states (`replica`, computed with torch's
own kernels on numpy arrays, like `probes.unroll`): those with the least and the largest
')'-logit and '('-logit, each with its word's back-pointer. A candidate whose replica
outputs are wrong is rebuilt and replayed on the torch module (`search`).

Rows are numpy arrays over the depths of a row; `WideRowPair` has `RowPair`'s interface.

`WideModel.replica` is the cells' generic step (`counting.cells`); `WideModel.image` keeps
its own interval form of the step (the error model of `numerics` on every operation, and
the GRU's alternative form z h + (1 - z) n folded into the error bound, which the generic
step on intervals would not carry), held to torch as a sound enclosure by
tests/test_cell_conformance.py.
"""

from __future__ import annotations

import numpy as np
import torch

from counting.cells import arith
from counting.cells import relu as cells_relu
from counting.cells.registry import GATES
from probes.worstcase.numerics import (
    NUM_ABS,
    NUM_IS32,
    NUM_KE,
    NUM_OVF,
    NUM_SIG_GATE,
    NUM_SIG_OUT,
    NUM_TANH_GATE,
    NUM_TINY,
    NUM_U,
    SLACK,
    W64,
    numeric_config,
)
from probes.worstcase.rows import SLOTS

__all__ = ["GATES", "WideModel", "WideRowPair", "verify_wide"]
_NUMPY_STEPS = arith.get("numpy").steps()  # torch's kernels on (contiguous) numpy arrays


# ---------------------------------------------------------------- interval arithmetic
class Q:
    """A quantity over an array: reference values in [lo, hi], computed value within e."""

    __slots__ = ("lo", "hi", "e")

    def __init__(self, lo, hi, e):
        self.lo, self.hi, self.e = lo, hi, e

    @property
    def mag(self):
        return np.maximum(np.abs(self.lo), np.abs(self.hi))


def _sigm(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def q_sigmoid(q: Q, num, sat: float) -> Q:
    lo, hi, e = q.lo, q.hi, q.e
    near0 = np.where(lo > 0, lo - e, np.where(hi < 0, hi + e, 0.0))
    near0 = np.clip(near0, lo - e, hi + e)
    s0 = _sigm(near0)
    err = (s0 * (1 - s0) * e + num[NUM_KE] * _sigm(hi + e) + num[NUM_ABS]) * SLACK
    satd = lo - e >= sat
    return Q(np.where(satd, 1.0, _sigm(lo)), np.where(satd, 1.0, _sigm(hi)),
             np.where(satd, 0.0, err))


def q_tanh(q: Q, num, sat: float) -> Q:
    lo, hi, e = q.lo, q.hi, q.e
    near0 = np.where(lo - e > 0, lo - e, np.where(hi + e < 0, hi + e, 0.0))
    t0 = np.tanh(near0)
    top = np.maximum(np.abs(np.tanh(lo - e)), np.abs(np.tanh(hi + e)))
    err = ((1 - t0 * t0) * e + 4 * W64 * e + num[NUM_KE] * top + num[NUM_ABS]) * SLACK
    up, down = lo - e >= sat, hi + e <= -sat
    fixed = up | down
    val = np.where(up, 1.0, -1.0)
    return Q(np.where(fixed, val, np.tanh(lo)), np.where(fixed, val, np.tanh(hi)),
             np.where(fixed, 0.0, err))


def q_mul(a: Q, b: Q, num) -> Q:
    c = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
    lo, hi = c.min(0), c.max(0)
    prop = a.mag * b.e + b.mag * a.e + a.e * b.e
    mp = np.maximum(np.abs(lo), np.abs(hi)) + prop
    return _unless_overflow(Q(lo, hi, (prop + (num[NUM_U] + W64) * mp + num[NUM_TINY]) * SLACK),
                            mp, num)


def q_add(a: Q, b: Q, num) -> Q:
    m = a.mag + b.mag + a.e + b.e
    return _unless_overflow(Q(a.lo + b.lo, a.hi + b.hi,
                              (a.e + b.e + (num[NUM_U] + W64) * m + num[NUM_TINY]) * SLACK),
                            m, num)


def _unless_overflow(q: Q, mag, num) -> Q:
    """q, lost (nan) where the magnitudes summed may reach torch's overflow (numerics.NUM_OVF:
    beyond it the error model does not hold) or are not finite."""
    with np.errstate(invalid="ignore"):
        bad = ~(mag <= num[NUM_OVF])
    if not bad.any():
        return q
    return Q(np.where(bad, np.nan, q.lo), np.where(bad, np.nan, q.hi), np.where(bad, np.nan, q.e))


def q_neg(a: Q) -> Q:
    return Q(-a.hi, -a.lo, a.e)


def q_affine(W, const, lo, hi, num, terms: int) -> Q:
    """W @ h + const over the box h in [lo, hi] (n, H): `terms` summands (H products and the
    constants) added in any order, products possibly fused. W (G, H), const (G,) (the sum
    of the constant terms, whose own rounding `terms` includes) -> Q of shape (n, G)."""
    p1 = lo[:, None, :] * W[None]
    p2 = hi[:, None, :] * W[None]
    plo, phi = np.minimum(p1, p2).sum(-1), np.maximum(p1, p2).sum(-1)
    T = (np.abs(W)[None] * np.maximum(np.abs(lo), np.abs(hi))[:, None, :]).sum(-1)
    T = T + const[1][None]
    e = (((terms - 1) * num[NUM_U] + terms * W64) * T + (terms + 1) * num[NUM_TINY]) * SLACK
    return _unless_overflow(Q(const[0][None] + plo, const[0][None] + phi, e), T, num)


def _snap(lo, hi, num):
    if num[NUM_IS32] == 0.0:
        return lo, hi
    with np.errstate(invalid="ignore", over="ignore"):
        l32, h32 = lo.astype(np.float32), hi.astype(np.float32)
        l32 = np.where(l32 < lo, np.nextafter(l32, np.float32(np.inf)), l32)
        h32 = np.where(h32 > hi, np.nextafter(h32, np.float32(-np.inf)), h32)
        lost = ~(np.isfinite(l32) & np.isfinite(h32))  # beyond the float32 range
    return (np.where(lost, np.nan, l32.astype(np.float64)),
            np.where(lost, np.nan, h32.astype(np.float64)))


# ---------------------------------------------------------------- the model
class WideModel:
    """A CounterRNN's weights as float64 arrays (its dtype's values), by gate."""

    def __init__(self, model):
        sd = {k: v.detach().double().cpu().numpy() for k, v in model.state_dict().items()}
        self.cell, self.H, self.dtype = model.cell, model.hidden_size, model.dtype
        self.w_ih, self.w_hh = sd["rnn.weight_ih_l0"], sd["rnn.weight_hh_l0"]
        self.b_ih, self.b_hh = sd["rnn.bias_ih_l0"], sd["rnn.bias_hh_l0"]
        self.w_out, self.b_out = sd["readout.weight"], sd["readout.bias"]
        self.num = numeric_config(model.dtype, None if model.cell == "relu" else model.cell)
        self.np_dtype = np.float32 if model.dtype == torch.float32 else np.float64

    def gate_const(self, tok: int, rows: slice, with_hh_bias: bool = True):
        """(sum of the constant terms, sum of their magnitudes) of the given gate rows."""
        a, b = self.w_ih[rows, tok], self.b_ih[rows]
        c = self.b_hh[rows] if with_hh_bias else np.zeros_like(b)
        return a + b + c, np.abs(a) + np.abs(b) + np.abs(c)

    # -------------------------------------------------------------- boxes
    def image(self, tok: int, lo, hi, clo, chi):
        """Enclosure of the states after token tok from the boxes (n, H) -> 4 arrays."""
        num, H = self.num, self.H
        sg, st = self.num[NUM_SIG_GATE], self.num[NUM_TANH_GATE]
        g = slice(None)
        if self.cell == "relu":
            pre = q_affine(self.w_hh, self.gate_const(tok, g), lo, hi, num, H + 3)
            a, b = _snap(np.maximum(pre.lo - pre.e, 0.0), np.maximum(pre.hi + pre.e, 0.0), num)
            return a, b, clo, chi
        if self.cell == "lstm":
            pre = q_affine(self.w_hh, self.gate_const(tok, g), lo, hi, num, H + 3)
            part = [Q(pre.lo[:, k * H:(k + 1) * H], pre.hi[:, k * H:(k + 1) * H],
                      pre.e[:, k * H:(k + 1) * H]) for k in range(4)]
            i, f, o = (q_sigmoid(part[k], num, sg) for k in (0, 1, 3))
            gg = q_tanh(part[2], num, st)
            c2 = q_add(q_mul(f, Q(clo, chi, 0.0), num), q_mul(i, gg, num), num)
            h2 = q_mul(o, q_tanh(c2, num, st), num)
            a, b = _snap(h2.lo - h2.e, h2.hi + h2.e, num)
            c, d = _snap(c2.lo - c2.e, c2.hi + c2.e, num)
            return a, b, c, d
        # GRU: r, z from (W_hh h + b_hh) + (W_ih x + b_ih); n = tanh(gi_n + r (W_hn h + b_hn))
        rz = q_affine(self.w_hh[:2 * H], self.gate_const(tok, slice(0, 2 * H)), lo, hi, num,
                      H + 3)
        r = q_sigmoid(Q(rz.lo[:, :H], rz.hi[:, :H], rz.e[:, :H]), num, sg)
        z = q_sigmoid(Q(rz.lo[:, H:], rz.hi[:, H:], rz.e[:, H:]), num, sg)
        n_rows = slice(2 * H, 3 * H)
        ghn = q_affine(self.w_hh[n_rows], (self.b_hh[n_rows], np.abs(self.b_hh[n_rows])),
                       lo, hi, num, H + 1)
        gi = self.gate_const(tok, n_rows, with_hh_bias=False)
        gin = Q(gi[0][None], gi[0][None], ((num[NUM_U] + W64) * gi[1][None]) * SLACK)
        n = q_tanh(q_add(gin, q_mul(r, ghn, num), num), num, st)
        hq = Q(lo, hi, 0.0)
        h1 = q_add(q_mul(q_add(hq, q_neg(n), num), z, num), n, num)
        alt = q_add(q_mul(z, hq, num), q_mul(q_add(Q(1.0, 1.0, 0.0), q_neg(z), num), n, num),
                    num)
        e = np.maximum(h1.e, alt.e)
        a, b = _snap(h1.lo - e, h1.hi + e, num)
        return a, b, clo, chi

    def readout(self, lo, hi):
        """(surely > 1/2, surely <= 1/2) of each output over the boxes: two (n, 2) arrays."""
        q = q_affine(self.w_out, (self.b_out, np.abs(self.b_out)), lo, hi, self.num,
                     self.H + 1)
        y = q_sigmoid(q, self.num, self.num[NUM_SIG_OUT])
        with np.errstate(invalid="ignore"):
            return y.lo - y.e > 0.5, y.hi + y.e <= 0.5

    # -------------------------------------------------------------- concrete states
    def replica(self, tok: int, h, c):
        """One torch-like step of the states h, c (n, H) in the dtype -> (h', c'): the cells'
        generic steps (`counting.cells`) on numpy arrays through torch's kernels, one gate
        block of H columns at a time (contiguous copies, as `probes.unroll` computes them)."""
        dt = self.np_dtype
        h, c = h.astype(dt), c.astype(dt)
        gh = h @ self.w_hh.T.astype(dt) + self.b_hh.astype(dt)
        gi = (self.w_ih[:, tok] + self.b_ih).astype(dt)
        H = self.H
        G = GATES[self.cell]
        ghs = [gh[:, q * H:(q + 1) * H] for q in range(G)]
        gis = [gi[q * H:(q + 1) * H] for q in range(G)]
        if self.cell == "relu":
            step = cells_relu.make_step(lambda env, x: np.maximum(x, dt(0)))
            return step(None, ghs, gis)[0].astype(np.float64), c
        if self.cell == "lstm":
            h2, c2 = _NUMPY_STEPS["lstm"](None, ghs, gis, c)[:2]
            return h2.astype(np.float64), c2.astype(np.float64)
        return _NUMPY_STEPS["gru"](None, ghs, gis, h)[0].astype(np.float64), c

    def logits(self, h):
        dt = self.np_dtype
        return (h.astype(dt) @ self.w_out.T.astype(dt) + self.b_out.astype(dt)).astype(
            np.float64)

    def wrong(self, h, depth):
        """(n,) the replica's outputs at states h (n, H) are wrong at `depth` (n,)."""
        dt = self.np_dtype
        y = torch.sigmoid(torch.from_numpy(self.logits(h).astype(dt))).double().numpy()
        above = y > 0.5
        return ~above[:, 0] | (above[:, 1] != (depth > 0)) | ~np.isfinite(y).all(1)


class WideRowPair:
    """`search.RowPair`'s interface for hidden size > 1: one box per cell (K = 1), four
    concrete states. Arrays by depth: box (D, 1, 4, H) (h_lo, h_hi, c_lo, c_hi), rep
    (D, 1, SLOTS, 2, H) (h, c)."""

    K = 1

    def __init__(self, wm: WideModel, bound: int):
        self.wm = wm
        self.depths = bound // 2 + 3
        H = wm.H
        self.bytes_per_depth = (4 + 2 * SLOTS) * H * 8
        self.prev, self.row = self._alloc(), self._alloc()
        self.row["n"][0] = 1
        self.t, self.dmax = -1, 0

    def _alloc(self) -> dict:
        D, H = self.depths, self.wm.H
        return {"n": np.zeros(D, np.int64), "box": np.zeros((D, 1, 4, H)),
                "rep": np.zeros((D, 1, SLOTS, 2, H)), "code": np.zeros((D, 1, SLOTS), np.int32),
                "status": np.zeros(D, np.int8), "cand": np.full(D, -1, np.int32)}

    def advance(self, dmax: int) -> tuple[int, int, int]:
        # exploding states overflow (to inf, then nan): expected, and handled as lost boxes
        with np.errstate(over="ignore", invalid="ignore"):
            return self._advance(dmax)

    def _advance(self, dmax: int) -> tuple[int, int, int]:
        self.prev, self.row = self.row, self.prev
        p, r, wm = self.prev, self.row, self.wm
        t = self.t + 1
        ds = np.arange((t + 1) % 2, dmax + 1, 2)
        r["status"][:] = 0
        r["cand"][:] = -1
        r["n"][:] = 0
        lo = np.full((ds.size, 4, wm.H), np.nan)
        has = np.zeros(ds.size, bool)
        cand_h, cand_c, cand_code = [], [], []
        images = 0
        for tok, dp in ((0, ds - 1), (1, ds + 1)):
            ok = (dp >= 0) & (dp <= self.dmax)
            ok[ok] &= p["n"][dp[ok]] > 0
            if not ok.any():
                cand_h.append(np.full((ds.size, SLOTS, wm.H), np.nan))
                cand_c.append(np.full((ds.size, SLOTS, wm.H), np.nan))
                cand_code.append(np.zeros((ds.size, SLOTS), np.int32))
                continue
            b = p["box"][dp[ok], 0]  # (m, 4, H)
            img = np.stack(wm.image(tok, b[:, 0], b[:, 1], b[:, 2], b[:, 3]), axis=1)
            images += int(ok.sum())
            cur = lo[ok]
            first = ~has[ok]
            cur[first] = img[first]
            both = ~first
            cur[both, 0] = np.minimum(cur[both, 0], img[both, 0])
            cur[both, 1] = np.maximum(cur[both, 1], img[both, 1])
            cur[both, 2] = np.minimum(cur[both, 2], img[both, 2])
            cur[both, 3] = np.maximum(cur[both, 3], img[both, 3])
            nan_any = np.isnan(img).any(axis=(1, 2))
            cur[nan_any] = np.nan
            lo[ok] = cur
            has[ok] = True
            reps = p["rep"][dp[ok], 0]  # (m, SLOTS, 2, H)
            h2, c2 = wm.replica(tok, reps[:, :, 0].reshape(-1, wm.H),
                                reps[:, :, 1].reshape(-1, wm.H))
            ch = np.full((ds.size, SLOTS, wm.H), np.nan)
            cc = np.full((ds.size, SLOTS, wm.H), np.nan)
            ch[ok], cc[ok] = h2.reshape(-1, SLOTS, wm.H), c2.reshape(-1, SLOTS, wm.H)
            cand_h.append(ch)
            cand_c.append(cc)
            cand_code.append(np.broadcast_to(tok * SLOTS + np.arange(SLOTS, dtype=np.int32),
                                             (ds.size, SLOTS)).copy())
        H = np.concatenate(cand_h, axis=1)  # (n, 2 SLOTS, H)
        C = np.concatenate(cand_c, axis=1)
        codes = np.concatenate(cand_code, axis=1)
        lg = wm.logits(H.reshape(-1, wm.H)).reshape(ds.size, 2 * SLOTS, 2)
        valid = ~np.isnan(H).any(-1)
        # slots: least / largest ')'-logit, least / largest '('-logit (NaN states first)
        keys = [lg[..., 1], -lg[..., 1], lg[..., 0], -lg[..., 0]]
        pick = np.empty((ds.size, SLOTS), np.int64)
        for s, key in enumerate(keys):
            k = np.where(valid, np.nan_to_num(key, nan=-np.inf), np.inf)
            pick[:, s] = np.argmin(k, axis=1)
        rows = np.arange(ds.size)[:, None]
        rh, rc, rcode = H[rows, pick], C[rows, pick], codes[rows, pick]
        # hull the box with the concrete states (sound)
        lo[:, 0] = np.fmin(lo[:, 0], rh.min(1))
        lo[:, 1] = np.fmax(lo[:, 1], rh.max(1))
        if wm.cell == "lstm":
            lo[:, 2] = np.fmin(lo[:, 2], rc.min(1))
            lo[:, 3] = np.fmax(lo[:, 3], rc.max(1))
        r["n"][ds] = 1
        r["box"][ds, 0] = lo
        r["rep"][ds, 0, :, 0], r["rep"][ds, 0, :, 1] = rh, rc
        r["code"][ds, 0] = rcode
        above, below = wm.readout(lo[:, 0], lo[:, 1])
        want1 = ds > 0
        ok = above[:, 0] & np.where(want1, above[:, 1], below[:, 1])
        bad = below[:, 0] | np.where(want1, below[:, 1], above[:, 1])
        status = np.where(ok, 0, np.where(bad, 2, 1)).astype(np.int8)
        r["status"][ds] = status
        wrong = wm.wrong(rh.reshape(-1, wm.H), np.repeat(ds, SLOTS)).reshape(ds.size, SLOTS)
        first = np.argmax(wrong, axis=1)
        r["cand"][ds] = np.where(wrong.any(1), first, -1)
        self.t, self.dmax = t, dmax
        return images, int((status != 0).sum()), int(wrong.any(1).sum())

    def advance_many(self, t_end: int, bound: int) -> tuple[int, int, int]:
        from probes.worstcase.search import row_dmax

        images = 0
        while self.t < t_end:
            dmax = row_dmax(self.t + 1, bound)
            if dmax < 0:
                break
            im, flagged, cands = self.advance(dmax)
            images += im
            if flagged or cands:
                return images, flagged, cands
        return images, 0, 0

    def snapshot(self) -> tuple:
        d = self.dmax + 1
        r = self.row
        return (self.t, self.dmax, r["n"][:d].copy(), r["box"][:d].copy(), r["rep"][:d].copy())

    def load(self, snap: tuple) -> None:
        t, dmax, n, box, rep = snap
        d = dmax + 1
        r = self.row
        r["n"][:] = 0
        r["n"][:d], r["box"][:d], r["rep"][:d] = n, box, rep
        self.t, self.dmax = t, dmax


def verify_wide(model, top: int, progress: bool) -> tuple[int, dict | None, int]:
    """Hidden size > 1 -> (certified, failure, states), one pass."""
    from probes.worstcase.search import search

    wm = WideModel(model)
    run = search(model, lambda bound: WideRowPair(wm, bound), top, progress,
                 desc="verify (hidden size > 1)")
    return run.certified, run.failure, run.states
