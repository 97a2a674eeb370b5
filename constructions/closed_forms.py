"""The affine counter model and its derived first failures (closed forms, no simulation), on
an `AffineCounter`; `constructions.affine` gives the same functions for a model too (it reads
the model's counter with `constructions.conditions.affine_counter`, which builds on this
module: so this one imports neither).

Every construction - and, to first order, every hidden-size-1 model (`conditions`) - is a
counter u updated per token tau in {'(', ')'} by

    u' = clip(a_tau * u + b_tau, lo, hi)            (lo = 0 for ReLU; +-2^p float limits)

whose ')'-output ("a ')' may follow") is on iff  sign * (u - theta_tau) > 0,  theta_tau the
readout threshold after reading tau. Output 0 ('(' may follow) is assumed always right.

Within a run of m equal tokens the unclipped iterate has the closed form

    y_m = a^m y_0 + b (1 - a^m) / (1 - a)        (a != 1),      y_m = y_0 + m b   (a = 1),

and for a >= 0 the clipped iterate is x_m = clip(y_m, lo, hi) (a clip only happens where the
map pushes further out, so it sticks). x_m is monotone in m (a monotone map iterated), so the
')'-output switches at most once per run: the first wrong token of a run is found by checking
its ends and bisecting, O(log m) closed-form evaluations per run. Models with a < 0 (a ReLU
with W_hh < 0) are iterated token by token instead.

The float limit of an exact counter (a = 1, b = +-1): u + 1 is exact below 2^p (p = 24 for
float32, 53 for float64) and 2^p + 1 rounds (to even) to 2^p, so the counter sticks at
hi = 2^p; `AffineCounter.exact(dtype)` models that. On nested(D), D > 2^p, it reads 0 after
2^p closes: the first wrong token is at index D + 2^p - 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from counting.dyck import DyckError, tokens, validate
from counting.models import resolve_dtype

INF = math.inf


def float_limit(dtype) -> float:
    """2^p: the largest integer the dtype's counter reaches by +1 steps (2^24 / 2^53)."""
    eps = torch.finfo(resolve_dtype(dtype)).eps  # 2^-(p - 1)
    return 2.0 / eps


@dataclass(frozen=True)
class AffineCounter:
    """u' = clip(a u + b, lo, hi) per token; ')'-output on iff sign * (u - theta) > 0."""

    a_open: float
    b_open: float
    a_close: float
    b_close: float
    theta_open: float
    theta_close: float
    sign: float = 1.0
    lo: float = -INF
    hi: float = INF
    u0: float = 0.0

    # ------------------------------------------------------------ families
    @classmethod
    def exact(cls, dtype=None, cell: str = "relu") -> AffineCounter:
        """The exact counter; with `dtype`, its float limit (ReLU also clips at 0)."""
        cap = INF if dtype is None else float_limit(dtype)
        lo = 0.0 if cell == "relu" else -cap
        return cls(1.0, 1.0, 1.0, -1.0, 0.5, 0.5, 1.0, lo, cap)

    @classmethod
    def leaky(cls, eps: float, theta: float = 0.5) -> AffineCounter:
        """leaky_counter('lstm'|'gru', eps): u' = (1 - eps) u +- 1, threshold theta."""
        a = 1.0 - eps
        return cls(a, 1.0, a, -1.0, theta, theta)

    @classmethod
    def relu(cls, up=1.0, down=1.0, w_hh=1.0, theta: float | None = None) -> AffineCounter:
        """mismatched_relu(up, down, w_hh): h' = relu(w_hh h +- step), threshold up / 2."""
        theta = up / 2.0 if theta is None else theta
        return cls(w_hh, up, w_hh, -down, theta, theta, 1.0, 0.0, INF)

    def as_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}

    # ------------------------------------------------------------ dynamics
    def params(self, tok: int) -> tuple[float, float, float]:
        """(a, b, theta) of token id tok (0 = '(', 1 = ')')."""
        if tok == 0:
            return self.a_open, self.b_open, self.theta_open
        return self.a_close, self.b_close, self.theta_close

    def run_values(self, tok: int, x0: float, m) -> np.ndarray:
        """Closed form: the state after m = 1, 2, ... equal tokens from x0 (a state, so inside
        [lo, hi]). m: int array >= 1. Only for a >= 0 (monotone maps)."""
        a, b, _ = self.params(tok)
        m = np.asarray(m, dtype=np.float64)
        if a == 1.0:
            y = x0 + m * b
        elif a == 0.0:
            y = np.full_like(m, b)
        else:
            la = math.log1p(a - 1.0) if 0.5 <= a <= 2.0 else math.log(a)  # a - 1 exact
            with np.errstate(over="ignore", invalid="ignore"):
                am = np.exp(m * la)
                geo = -np.expm1(m * la) / (1.0 - a)  # (1 - a^m) / (1 - a)
                y = np.zeros_like(m)
                y += (b * geo if b != 0 else 0.0) + (am * x0 if x0 != 0 else 0.0)  # no inf * 0
                bad = np.isnan(y)  # inf - inf after an overflow: use the fixed point p
                if bad.any():
                    p = b / (1.0 - a)
                    y[bad] = p + (am[bad] * (x0 - p) if x0 != p else 0.0)
        return np.clip(y, self.lo, self.hi)

    def positive(self, u, theta) -> np.ndarray:
        """The ')'-output at state u after a token with threshold theta."""
        with np.errstate(invalid="ignore"):
            return self.sign * (np.asarray(u, dtype=np.float64) - theta) > 0

    def step(self, tok: int, u: float) -> float:
        a, b, _ = self.params(tok)
        return min(max(a * u + b, self.lo), self.hi)


# ------------------------------------------------------------------ run-length evaluation
def runs_of(seq) -> list[tuple[int, int]]:
    """[(token id, run length), ...] of a bracket string or a token-id array (0 '(', 1 ')')."""
    tok = tokens(seq) if isinstance(seq, str) else np.asarray(seq, dtype=np.int8)
    if tok.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(tok)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [tok.size]])
    return [(int(tok[s]), int(e - s)) for s, e in zip(starts, ends)]


def _first_wrong_in_run(c: AffineCounter, tok: int, n: int, x0: float, d0: int):
    """0-based offset (m - 1) of the first wrong token in a run of n tokens `tok` starting at
    state x0 and depth d0, or None. Monotone x_m: check the ends, bisect the switch."""
    _, _, theta = c.params(tok)
    M = n if tok == 0 else min(n, d0 - 1)  # run positions with depth > 0 after them

    def wrong_pos(m):  # depth > 0 there: wrong iff the output is off
        return not c.positive(c.run_values(tok, x0, [m])[0], theta)

    if M >= 1:
        if wrong_pos(1):
            return 0
        if wrong_pos(M):
            lo, hi = 1, M  # right at lo, wrong at hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if wrong_pos(mid):
                    hi = mid
                else:
                    lo = mid
            return hi - 1
    if tok == 1 and n >= d0:  # depth 0 after m = d0 closes: wrong iff the output is on
        if c.positive(c.run_values(tok, x0, [d0])[0], theta):
            return d0 - 1
    return None


def _first_failure_runs(c: AffineCounter, runs) -> int | None:
    if min(c.a_open, c.a_close) < 0:
        raise ValueError("closed forms need a >= 0; use _first_failure_iterated")
    x, d, pos = c.u0, 0, 0
    for tok, n in runs:
        off = _first_wrong_in_run(c, tok, n, x, d)
        if off is not None:
            return pos + off
        x = float(c.run_values(tok, x, [n])[0])
        d += n if tok == 0 else -n
        pos += n
    return None


def _first_failure_iterated(c: AffineCounter, tok: np.ndarray) -> int | None:
    depth = np.cumsum(1 - 2 * tok.astype(np.int64))
    u = c.u0
    for t, k in enumerate(tok.tolist()):
        u = c.step(k, u)
        if bool(c.positive(u, c.params(k)[2])) != bool(depth[t] > 0):
            return t
    return None


def predicted_first_failure(counter: AffineCounter, seq: str) -> int | None:
    """0-based index of the first token whose ')'-output the counter gets wrong on the Dyck
    prefix `seq` (= its First Point of Failure), or None if none is predicted.

    counter: an AffineCounter (family parameters, e.g. AffineCounter.leaky(eps), or a
    model's counter: `constructions.affine.predicted_first_failure` takes the model). Only
    the ')'-output is modelled: output 0 is assumed right (it is a constant logit in the
    constructions; `distance_from_ideal` reports its worst logit).
    """
    counter = _as_counter(counter)
    validate(seq, balanced=False)
    if min(counter.a_open, counter.a_close) < 0:
        return _first_failure_iterated(counter, tokens(seq))
    return _first_failure_runs(counter, runs_of(seq))


def _as_counter(obj) -> AffineCounter:
    if isinstance(obj, AffineCounter):
        return obj
    raise TypeError(f"expected an AffineCounter, got {type(obj).__name__} (a model: "
                    "constructions.affine reads its counter)")


def nested_first_failure(counter: AffineCounter, depth: int) -> int | None:
    """predicted_first_failure on nested(depth) = '('*depth + ')'*depth, without building it."""
    c = _as_counter(counter)
    if depth < 0:
        raise DyckError(f"nesting depth must be >= 0, got {depth}")
    if min(c.a_open, c.a_close) < 0:
        from counting.generators import nested

        return predicted_first_failure(c, nested(depth))
    return _first_failure_runs(c, [(0, depth), (1, depth)]) if depth else None


def nested_failure_depth(counter: AffineCounter, cap: int = 2**53, scan: int = 1024) -> int | None:
    """Smallest D with a wrong token on nested(D) (None if none up to `cap`); the model's
    maximum correct nesting depth is D - 1. An exact counter with a float limit hi gets
    hi / step + 1 (2^24 + 1 in float32, 2^53 + 1 in float64) in closed form, whatever `cap`.
    Otherwise the search stops at `cap` (default 2^53: beyond it float64 closed forms are not
    exact). Every D <= `scan` is checked; above it D is found
    by doubling and bisection, which is exact when failure is monotone in D (it is for the
    leaky and mismatched families: their depth-1 / depth-0 values move monotonically in D)."""
    c = _as_counter(counter)
    limit = _float_limit_depth(c)
    if limit is not None:
        return limit
    for D in range(1, min(scan, cap) + 1):
        if nested_first_failure(c, D) is not None:
            return D
    good = min(scan, cap)
    bad = None
    while bad is None and good < cap:
        probe = min(2 * good, cap)
        if nested_first_failure(c, probe) is not None:
            bad = probe
        else:
            good = probe
    if bad is None:
        return None
    while bad - good > 1:
        mid = (good + bad) // 2
        if nested_first_failure(c, mid) is not None:
            bad = mid
        else:
            good = mid
    return bad


def _float_limit_depth(c: AffineCounter) -> int | None:
    """hi / s + 1 for an exact counter with steps +-s stuck at hi (its float limit): it counts
    nested(D) exactly while D s <= hi; for D s > hi it sticks at hi and reads depth 0 after
    hi / s < D closes. None if `c` is not such a counter."""
    s = c.b_open
    exact = (c.a_open == c.a_close == 1.0 and s > 0 and c.b_close == -s and c.sign > 0
             and 0 <= c.theta_close < s and c.theta_open < s and c.lo <= 0 and c.u0 == 0)
    if not exact or not math.isfinite(c.hi) or c.hi / s != int(c.hi / s):
        return None
    return int(c.hi / s) + 1


def counter_values(counter: AffineCounter, seq, positions) -> np.ndarray:
    """The counter after token t for each t in `positions` (-1: before the first token),
    from the closed forms. seq: string or token ids; positions: int array -> float64 array."""
    c = _as_counter(counter)
    tok = tokens(seq) if isinstance(seq, str) else np.asarray(seq, dtype=np.int8)
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size and (positions.min() < -1 or positions.max() >= tok.size):
        raise ValueError(f"positions must lie in [-1, {tok.size - 1}]")
    if min(c.a_open, c.a_close) < 0:
        raise ValueError("counter_values needs a >= 0 (closed forms)")
    out = np.full(positions.shape, np.nan)
    out[positions == -1] = c.u0
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    x, start, k = c.u0, 0, np.searchsorted(sorted_pos, 0)
    for tk, n in runs_of(tok):
        end = start + n
        j = np.searchsorted(sorted_pos, end)  # positions start..end-1 are in this run
        if j > k:
            out[order[k:j]] = c.run_values(tk, x, sorted_pos[k:j] - start + 1)
        x = float(c.run_values(tk, x, [n])[0])
        start, k = end, j
    return out
