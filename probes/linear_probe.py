"""The linear depth probe: the direction in the counter state that best predicts the depth.

For hidden size H the counter state x_t (c_t for an LSTM, h_t for ReLU and GRU; shape (H,))
after token t is regressed on the depth d_t after token t, over every valid token of the
probe sets, by ordinary least squares WITH an intercept:

    d_t  ~  w . x_t + b                  w (H,) in depth per state unit, b in depth

- `weights` w: the minimum-norm least-squares solution (numpy `lstsq` on centred data;
  singular values below eps * max(N, H) times the largest are dropped; a unit whose state
  never changes gets weight exactly 0). When several units carry the same signal the
  weight is shared in proportion to how much each moves: units stepping by a_k
  (x = a * depth) give w = a / |a|^2, parallel to a.
- `direction` u = w / |w|: the unit vector of the count (pointing to growing depth).
- `r2`: the ordinary coefficient of determination, 1 - SS_res / SS_tot with SS_tot the
  spread around the MEAN depth - the share of the depth's variance that the state explains
  linearly, in [0, 1]. (A fit through the origin would have to report either an
  "uncentred" R^2 = 1 - SS_res / sum d^2, inflated because the depth is never negative,
  or a centred one that can go negative; it would also recruit any near-constant unit to
  cancel an offset of the counter, spreading u over units that do not count.)
- `intercept` b: the depth the probe reads at the zero state (0 for an exact counter; the
  counters in `probes.counter` start at k = 0, so the projection drops b - a constant
  offset of the state then shows as drift, exactly as for hidden size 1).
- `unit_share`: u_k^2 (= u_k^2 / |u|^2, |u| = 1): unit k's share of the squared length of
  u, the squared cosine between u and unit k's axis; the shares sum to 1. The count lives
  in ONE unit when the largest share is >= ONE_UNIT_SHARE (0.9: u within 18.4 degrees of
  that unit's axis); otherwise it is spread, over the fewest units whose shares add up to
  ONE_UNIT_SHARE.
- `residual_by_depth`: for every true depth d seen, the mean and RMS over its tokens of
  (w . x + b) - d, the probe's reading minus the depth (the sign of `drift`), and n.

The projected counter k_t = w . x_t (`DepthProbe.project`, `DepthProbe.apply`) reads in
units of depth; `probes.diagnose` measures the increments, decrements and drift of a
hidden-size > 1 model on it (the failure classes depend only on the outputs and the true
depth, so they need no unit). Hidden size 1 keeps its raw counter.

A probe is undefined (`defined` False; r2, direction, shares NaN) when no finite state
varies with the depth: a dead or diverged model, or probe sets of one depth only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from probes.tracing import Trace, trace_batch
from probes.unroll import COUNTER_KEY

ONE_UNIT_SHARE = 0.9  # largest unit_share at or above this: the count lives in one unit
WEAK_R2 = 0.5  # below this the text warns that little of the depth is linear in the state


@dataclass(frozen=True)
class DepthProbe:
    """A fitted linear depth probe (see the module docstring). Arrays are float64, (H,)."""

    cell: str
    weights: np.ndarray  # (H,) w: depth ~ w . state + intercept
    intercept: float
    r2: float
    n_tokens: int
    residual_by_depth: dict = field(repr=False)

    @property
    def key(self) -> str:
        """The state the probe reads: "c" (LSTM) or "h" (ReLU, GRU)."""
        return COUNTER_KEY[self.cell]

    @property
    def hidden_size(self) -> int:
        return int(self.weights.shape[0])

    @property
    def defined(self) -> bool:
        return bool(np.all(np.isfinite(self.weights)) and np.any(self.weights != 0))

    @property
    def direction(self) -> np.ndarray:
        """u = w / |w|, (H,); NaN if the probe is undefined."""
        if not self.defined:
            return np.full(self.hidden_size, np.nan)
        return self.weights / np.linalg.norm(self.weights)

    @property
    def unit_share(self) -> np.ndarray:
        """u_k^2, (H,), summing to 1; NaN if the probe is undefined."""
        u = self.direction
        return u * u

    @property
    def dominant_unit(self) -> int | None:
        """The unit with the largest share (None if undefined)."""
        return int(np.argmax(self.unit_share)) if self.defined else None

    @property
    def in_one_unit(self) -> bool | None:
        """True if the largest share is >= ONE_UNIT_SHARE (None if undefined)."""
        return len(units_holding(self.unit_share)) == 1 if self.defined else None

    @property
    def spread_units(self) -> list[int]:
        """The fewest units whose shares add up to ONE_UNIT_SHARE, largest first."""
        return units_holding(self.unit_share) if self.defined else []

    def project(self, tr: Trace) -> np.ndarray:
        """The projected counter w . state of a trace: (T,) or (B, T), in depth units."""
        return tr[self.key] @ self.weights

    def apply(self, tr: Trace) -> Trace:
        """The same trace with its counter replaced by the projection (`Trace.along`)."""
        return tr.along(self.weights)

    def to_json(self) -> dict:
        """{"r2", "direction", "unit_share"}: the `depth_probe` entry of `probes.diagnose`."""
        return {"r2": float(self.r2), "direction": self.direction.tolist(),
                "unit_share": self.unit_share.tolist()}


def units_holding(share) -> list[int]:
    """The fewest units whose shares add up to ONE_UNIT_SHARE, largest share first
    (one unit exactly when the largest share is >= ONE_UNIT_SHARE, up to 1e-12 rounding)."""
    share = np.asarray(share, dtype=np.float64)
    order = np.argsort(-share, kind="stable")
    need = int(np.searchsorted(np.cumsum(share[order]), ONE_UNIT_SHARE - 1e-12)) + 1
    return [int(k) for k in order[: min(need, share.size)]]


def _pooled(traces, key: str) -> tuple[np.ndarray, np.ndarray]:
    """All valid (state (N, H), depth (N,)) pairs of the traces."""
    xs, ds = [], []
    for tr in traces:
        m = np.atleast_1d(tr.mask)
        x = tr[key].reshape(m.shape + (-1,))
        depth = np.asarray(tr["depth"]).reshape(m.shape)
        if m.all():  # no padding: views (a word of 10^6 tokens is 8 MB per copy)
            xs.append(x.reshape(-1, x.shape[-1]))
            ds.append(depth.ravel())
        else:
            xs.append(x[m])
            ds.append(depth[m])
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    return x.astype(np.float64, copy=False), np.concatenate(ds, dtype=np.float64)


def _residual_by_depth(d: np.ndarray, err: np.ndarray) -> dict:
    depth = d.astype(np.int64)
    size = int(depth.max()) + 1 if depth.size else 0
    n = np.bincount(depth, minlength=size)
    seen = np.flatnonzero(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(depth, err, size) / n
        rms = np.sqrt(np.bincount(depth, err * err, size) / n)
    return {"depth": seen.tolist(), "mean": mean[seen].tolist(), "rms": rms[seen].tolist(),
            "n": n[seen].tolist()}


def fit_depth_probe(traces) -> DepthProbe:
    """Fit the probe on traces (batched or not, one model) -> DepthProbe.

    Tokens whose state is not finite (a diverged model) are left out of the fit.
    """
    traces = list(traces)
    if not traces:
        raise ValueError("fit_depth_probe needs at least one trace")
    cell = traces[0].cell
    x, d = _pooled(traces, COUNTER_KEY[cell])
    H = x.shape[1]
    finite = np.all(np.isfinite(x), axis=1)
    if not finite.all():  # (copies: a word of 10^6 tokens is 8 MB per array)
        x, d = x[finite], d[finite]
    del finite
    nan = float("nan")
    undefined = DepthProbe(cell, np.full(H, nan), nan, nan, int(d.size),
                           _residual_by_depth(d, np.full(d.size, nan)))
    if d.size < 2:
        return undefined
    x_mean, d_mean = x.mean(axis=0), d.mean()
    xc, dc = x - x_mean, d - d_mean
    ss_tot = float(dc @ dc)
    if ss_tot == 0 or not np.any(xc):
        return undefined
    active = np.any(xc != 0, axis=0)  # a unit that never moves gets weight exactly 0
    w = np.zeros(H)
    try:
        w[active] = np.linalg.lstsq(xc[:, active], dc, rcond=None)[0]
    except np.linalg.LinAlgError:  # e.g. states so large that their squares overflow
        return undefined
    if not (np.all(np.isfinite(w)) and np.any(w)):
        return undefined
    b = float(d_mean - x_mean @ w)
    res = dc - xc @ w
    r2 = 1.0 - float(res @ res) / ss_tot
    del xc, dc, res
    err = (x @ w + b) - d
    return DepthProbe(cell, w, b, r2, int(d.size), _residual_by_depth(d, err))


def depth_probe(model, sets=None) -> DepthProbe:
    """Fit the depth probe of `model` on `sets` ({name: list of bracket strings}; default
    `probes.default_probe_sets()`: zigzag, nested, very long), one trace per set."""
    from probes.probesets import default_probe_sets

    sets = default_probe_sets() if sets is None else sets
    if not isinstance(sets, dict) or not sets:
        raise ValueError("sets must be a non-empty dict {name: list of bracket strings}")
    seqs = [[s] if isinstance(s, str) else list(s) for s in sets.values()]
    return fit_depth_probe(trace_batch(model, s) for s in seqs if s)



def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def depth_probe_text(dp: dict, hidden_size: int, key: str) -> str:
    """Text on a `depth_probe` report entry {"r2", "direction", "unit_share"}: R^2 and
    whether the count lives in one unit (largest share >= ONE_UNIT_SHARE) or is spread.
    One line for hidden size 1, two otherwise."""
    r2, share = dp.get("r2"), dp.get("unit_share") or []
    if r2 is None or not share or any(s is None for s in share):
        return "depth probe: undefined (no finite counter state varies with the depth)"
    head = f"depth probe: R² {r2:.4g} (share of the depth's variance linear in {key}"
    head += f"; below {WEAK_R2:g}: a weak linear count)" if r2 < WEAK_R2 else ")"
    if hidden_size == 1:
        return head + "; hidden size 1: one unit"
    share = np.asarray(share, dtype=np.float64)
    units = units_holding(share)
    if len(units) == 1:
        where = "the count lives in one unit:"
    else:
        where = f"the count is spread over {len(units)} units:"
    where += (" " + ", ".join(f"unit {k} {_pct(share[k])}" for k in units)
              + f" of |u|² (one unit: >= {_pct(ONE_UNIT_SHARE)}); steps and drift below are "
              "along u, in depth units")
    return head + "\n" + where
