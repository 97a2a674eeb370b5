"""Increments, decrements and drift of the counting variable, measured on traces.

The counting variable k_t is `tr.counter`: c_t (LSTM) or h_t (ReLU, GRU) of one hidden unit,
or, on a trace projected on a direction w (`Trace.along`; `diagnose` does it for hidden size
> 1 with the depth probe's weights, `probes.linear_probe`), c_t @ w or h_t @ w; k = 0 before
the first token (h0 = c0 = 0). For the token at step t, with d the depth *before*
it (depth after step t-1, 0 at t = 0):

    Δ(t) = k_t - k_{t-1};   Δ+(d) = Δ on '(' at depth d;   Δ-(d) = Δ on ')' at depth d.

- unit step u = median Δ+ over '(' tokens at depth d <= LOW_DEPTH (10);
- increment = u; decrement = median Δ- over ')' tokens at depth 1..LOW_DEPTH;
- ratio = -decrement / increment (1 for an exact counter; < 1: decrements too small);
- drift(t) = k_t / u - depth(t), in units of the step (0 for an exact counter);
- drift per token = least-squares slope of drift(t) against t + 1 through the origin
  (drift is 0 before the first token), one per sequence; a set reports their median.
A unit step of (almost) zero (a dead counter) makes ratio and drift undefined (NaN).
"""

from __future__ import annotations

import numpy as np

LOW_DEPTH = 10
TINY_STEP = 1e-12  # below this the counter does not move: no unit step


def steps(tr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-token steps of a (batched) trace, valid tokens only, flattened.

    Returns (delta (N,), token (N,) int8, depth_before (N,) int64).
    """
    k = np.atleast_2d(tr.counter)  # (B, T)
    tok = np.atleast_2d(tr["token"])
    depth = np.atleast_2d(tr["depth"])
    delta = np.empty(k.shape)  # k - k shifted right by one (0 before the first token)
    delta[:, 0] = k[:, 0]
    np.subtract(k[:, 1:], k[:, :-1], out=delta[:, 1:])
    before = np.empty(depth.shape, np.int64)
    before[:, 0] = 0
    before[:, 1:] = depth[:, :-1]
    m = np.atleast_2d(tr.mask)
    if m.all():  # no padding (one word, or words of one length): views, no copies
        return delta.ravel(), tok.ravel(), before.ravel()
    return delta[m], tok[m], before[m]


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def step_summary(traces) -> dict:
    """Unit step, increment, decrement and ratio pooled over one or more traces.

    Returns {"unit_step", "increment", "decrement", "ratio", "by_depth": {"depth",
    "increment", "decrement", "n_open", "n_close"}}, where by_depth lists, for every depth
    d seen, the mean Δ+(d) and mean Δ-(d) (NaN where no such token) and their counts.
    """
    parts = [steps(tr) for tr in traces]
    delta, tok, before = (p[0] if len(parts) == 1 else np.concatenate(p)
                          for p in zip(*parts, strict=True))
    del parts
    is_open, is_close = tok == 0, tok == 1
    low = before <= LOW_DEPTH
    inc = _median(delta[is_open & low])
    dec = _median(delta[is_close & low])
    unit = inc if np.isfinite(inc) and abs(inc) > TINY_STEP else float("nan")
    ratio = -dec / unit if np.isfinite(unit) else float("nan")
    size = int(before.max()) + 1 if before.size else 0
    n_open = np.bincount(before[is_open], minlength=size)
    n_close = np.bincount(before[is_close], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_open = np.bincount(before[is_open], delta[is_open], size) / n_open
        mean_close = np.bincount(before[is_close], delta[is_close], size) / n_close
    return {
        "unit_step": unit,
        "increment": inc,
        "decrement": dec,
        "ratio": ratio,
        "by_depth": {
            "depth": list(range(size)),
            "increment": mean_open.tolist(),
            "decrement": mean_close.tolist(),
            "n_open": n_open.tolist(),
            "n_close": n_close.tolist(),
        },
    }


def drift(tr, unit: float) -> np.ndarray:
    """drift(t) = counter(t) / unit - depth(t): (T,) or (B, T); NaN at padding."""
    d = np.where(tr.mask, tr["depth"], 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = tr.counter / unit - d
    return np.where(tr.mask, out, np.nan)


def drift_slopes(tr, unit: float, dr: np.ndarray | None = None) -> np.ndarray:
    """Per-sequence drift per token (slope through the origin against t + 1): (B,).
    dr: drift(tr, unit) where already computed."""
    dr = np.atleast_2d(drift(tr, unit) if dr is None else dr)
    m = np.atleast_2d(tr.mask)
    t1 = np.arange(1, dr.shape[1] + 1, dtype=np.float64)[None, :] * m
    with np.errstate(invalid="ignore"):
        return np.nansum(dr * t1, axis=1) / np.sum(t1 * t1, axis=1)


def drift_summary(tr, unit: float) -> dict:
    """{"per_token" (median slope), "final" (median drift at the last token), "max_abs"}."""
    if not np.isfinite(unit):
        nan = float("nan")
        return {"per_token": nan, "final": nan, "max_abs": nan}
    dr = np.atleast_2d(drift(tr, unit))
    last = dr[np.arange(dr.shape[0]), np.atleast_1d(tr.lengths) - 1]
    return {
        "per_token": float(np.median(drift_slopes(tr, unit, dr))),
        "final": float(np.median(last)),
        "max_abs": float(np.nanmax(np.abs(dr))),
    }
