"""Weight repair: the nearest exact counter to a trained hidden-size-1 model.

The paper's "targeted discretization of model weights": keep what the model learned (the
sign and scale of its counter, its readout) and move each weight the least it takes to meet
the exact-counting conditions of `constructions.conditions`:

ReLU   h' = relu((W_hh h + b_hh) + (W_ih[tau] + b_ih))
       W_hh = 1, b_ih = b_hh = 0, W_ih = [s, -s]. The step s is the model's own mean step
       (W_ih['('] - W_ih[')']) / 2 rounded to the nearest power of two: then every depth's
       counter s * d is a float, increments and decrements are exact, and the float limit is
       the construction's (2^p s, p = 53 / 24). The readout is kept where it already reads
       depth 0 as closed and depth 1 as open (with a margin), else moved minimally.
LSTM   c' = f c + i g,  h' = o tanh(c')
       i, f, o saturated to exactly 1.0 and g to exactly +-1.0 (the sign of the model's own
       counter) for every reachable h in [-1, 1] and both tokens, so c' = c +- 1 exactly.
       Each gate's five weights (W_ih[q, '('], W_ih[q, ')'], W_hh[q], b_ih[q], b_hh[q]) are
       projected (least squares) onto the polyhedron "pre-activation >= threshold at h = -1
       and h = +1 for both tokens", threshold = the smallest pre-activation that saturates
       every torch kernel (`saturation_threshold`), plus a margin. A gate that is already
       saturated is not touched. The counter's scale is 1 (a saturated g), its sign is kept.
       The readout (h = sign * tanh(depth)) is kept where valid, else projected.
GRU    cannot count exactly (|h| < 1), and the leaky counter with the model's own leak
       (z = 1 - eps at h = 0) is far worse than the trained GRU, whose z depends on h: repair
       refuses, saying how deep that leaky counter would go and pointing to
       `counting construct --cell gru --eps E` (right to depth ~ sqrt(1 / (2 E))).

A model without an identifiable counter is refused (`RepairRefused`, with the reason): '('
and ')' must move the counter in opposite directions, the ')' readout must rise with the
counter, a ReLU needs W_hh > 0, and the model must classify the short words PROBE_WORDS
right (repair keeps a learned counter; it does not build one - `exact_counter` does).

Every projection is the exact least-squares solution over a handful of linear inequality
constraints, found by enumerating active sets (`project`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from constructions.saturation import kernel_values, saturation_threshold
from counting.dyck import one_hot, targets
from counting.models import CounterRNN, dtype_name

PROBE_WORDS = ("()", "(())")
GATE_MARGIN = (1.001, 0.001)  # target pre-activation = 1.001 * threshold + 0.001
LOGIT_MARGIN = 1e-3  # readout logits at least this far from 0 (plus rounding slack)
PARAM_NAMES = ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
               "readout.weight", "readout.bias")


class RepairRefused(ValueError):
    """The model has no counter that repair can keep; the message says why."""


@dataclass
class Repair:
    """A repaired model and what changed. `method`: 'snap' (the exact-counter conditions).
    `counter`: the counter's variable, sign, step before and after."""

    model: CounterRNN
    method: str
    counter: dict
    changes: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready: method, counter, every changed parameter entry, max and L2 change."""
        abs_changes = [c["abs"] for c in self.changes]
        return {
            "cell": self.model.cell, "dtype": dtype_name(self.model.dtype),
            "method": self.method, "counter": self.counter,
            "max_abs_change": max(abs_changes, default=0.0),
            "l2_change": math.sqrt(sum(a * a for a in abs_changes)),
            "changes": self.changes, "notes": self.notes,
        }


# ------------------------------------------------------------------ least-squares projection
def project(v0, A, t, tol: float = 1e-12) -> np.ndarray:
    """argmin ||v - v0||_2 subject to A v >= t, by enumerating active sets.

    v0 (n,), A (m, n), t (m,) with m small (<= 4 here). Each candidate is the least-squares
    correction onto {A_S v = t_S} for a subset S of the constraints; the nearest feasible
    candidate is the projection (the problem is convex, so its optimum has such a form).
    """
    v0, A, t = (np.asarray(x, dtype=np.float64) for x in (v0, A, t))
    if np.all(A @ v0 >= t - tol):
        return v0.copy()
    best, best_d = None, math.inf
    for k in range(1, len(t) + 1):
        for S in itertools.combinations(range(len(t)), k):
            As, ts = A[list(S)], t[list(S)]
            v = v0 + np.linalg.pinv(As) @ (ts - As @ v0)
            if np.allclose(As @ v, ts, atol=1e-9) and np.all(A @ v >= t - 1e-9):
                d = float(np.linalg.norm(v - v0))
                if d < best_d:
                    best, best_d = v, d
    if best is None:  # cannot happen for the feasible systems used here
        raise RuntimeError("no feasible point for the repair constraints")
    return best


def _params(model: CounterRNN) -> dict[str, np.ndarray]:
    return {k: v.detach().double().numpy().copy() for k, v in model.state_dict().items()}


def _build(model: CounterRNN, p: dict[str, np.ndarray]) -> CounterRNN:
    out = CounterRNN(model.cell, 1, model.dtype)
    with torch.no_grad():
        for name, t in out.state_dict().items():
            t.copy_(torch.as_tensor(p[name]).to(t.dtype))
    out.eval()
    return out


def _changes(before: CounterRNN, after: CounterRNN) -> list[dict]:
    """Every parameter entry: name[index], before, after, abs change, relative change."""
    b, a = _params(before), _params(after)
    rows = []
    for name in PARAM_NAMES:
        for idx in np.ndindex(b[name].shape):
            x, y = float(b[name][idx]), float(a[name][idx])
            d = abs(y - x)
            rows.append({"param": f"{name}[{','.join(map(str, idx))}]", "before": x,
                         "after": y, "abs": d, "rel": d / abs(x) if x else (0.0 if d == 0
                                                                          else None)})
    return rows


def _first_wrong(model: CounterRNN, word: str) -> int | None:
    with torch.no_grad():
        out = model(torch.as_tensor(one_hot(word), dtype=model.dtype)).double().numpy()
    wrong = np.flatnonzero(np.any((out > 0.5) != targets(word).astype(bool), axis=1))
    return int(wrong[0]) if wrong.size else None


def _logit_slack(dtype, *values) -> float:
    """A margin that covers the rounding of a readout logit w h + b in `dtype`."""
    eps = torch.finfo(dtype).eps
    return LOGIT_MARGIN + 64 * eps * (1.0 + sum(abs(v) for v in values))


# ------------------------------------------------------------------------ identification
def _identify(model: CounterRNN) -> tuple[float, dict]:
    """The model's counter: (sign, distance_from_ideal); RepairRefused when there is none."""
    from constructions.conditions import distance_from_ideal

    if model.hidden_size != 1:
        raise RepairRefused(f"repair handles hidden size 1 only, got {model.hidden_size}")
    dist = distance_from_ideal(model)
    inc, dec = dist["increment"], dist["decrement"]
    if inc is None or dec is None or not (math.isfinite(inc) and math.isfinite(dec)):
        raise RepairRefused("the counter's steps are not finite")
    if inc == 0 or dec == 0 or (inc > 0) != (dec > 0):
        raise RepairRefused(
            f"no counter: '(' moves the counter by {inc:+.3g} and ')' by {-dec:+.3g}; a "
            "counter needs them in opposite directions")
    sign = 1.0 if inc > 0 else -1.0
    state = model.state_dict()
    w1 = float(state["readout.weight"][1, 0])
    if w1 * sign <= 0:
        raise RepairRefused(
            f"the ')' readout weight ({w1:+.3g}) does not rise with the counter (sign "
            f"{sign:+.0f}): the readout does not read the counter")
    if model.cell == "relu" and float(state["rnn.weight_hh_l0"][0, 0]) <= 0:
        raise RepairRefused("W_hh <= 0: the ReLU state does not carry the count forward")
    margin = dist["readout_margin"]
    if margin is None or not margin > 0:
        raise RepairRefused(
            "the ')' readout does not separate depth 0 from depth 1 of the model's own counter "
            f"(readout margin {margin if margin is None else f'{margin:.3g}'}): there is no "
            "learned counter to keep (repair keeps one; `counting construct` builds one)")
    return sign, dist


# ------------------------------------------------------------------------------- cells
def _repair_relu(model: CounterRNN, sign: float, dist: dict) -> Repair:
    p = _params(model)
    w_ih = p["rnn.weight_ih_l0"][0]
    raw = (w_ih[0] - w_ih[1]) / 2.0
    if not raw > 0:
        raise RepairRefused(f"the mean step (W_ih['('] - W_ih[')']) / 2 = {raw:.3g} is not > 0")
    s = 2.0 ** round(math.log2(raw))
    p["rnn.weight_ih_l0"][0] = [s, -s]
    p["rnn.weight_hh_l0"][0, 0] = 1.0
    p["rnn.bias_ih_l0"][0] = 0.0
    p["rnn.bias_hh_l0"][0] = 0.0
    w, b = p["readout.weight"], p["readout.bias"]
    m1 = _logit_slack(model.dtype, w[1, 0] * s, b[1])
    # ')' logit w1 h + b1: <= -m at h = 0, >= m at h = s (it rises with h: w1 > 0)
    w[1, 0], b[1] = project([w[1, 0], b[1]], [[0.0, -1.0], [s, 1.0]], [m1, m1])
    m0 = _logit_slack(model.dtype, b[0])
    # '(' logit w0 h + b0 >= m for every h >= 0: w0 >= 0 and b0 >= m
    w[0, 0], b[0] = project([w[0, 0], b[0]], [[1.0, 0.0], [0.0, 1.0]], [0.0, m0])
    out = _build(model, p)
    counter = {"sign": sign, "variable": "h", "step_before": dist["increment"],
               "decrement_before": dist["decrement"], "step_after": s,
               "w_hh_before": dist["decay_open"], "w_hh_after": 1.0}
    notes = [f"step {raw:.6g} rounded to the power of two {s:g}: every depth's counter "
             "s * d is then exact"]
    return Repair(out, "snap", counter, _changes(model, out), notes)


def _repair_lstm(model: CounterRNN, sign: float, dist: dict) -> Repair:
    p = _params(model)
    dt = model.dtype
    targets_ = {fn: GATE_MARGIN[0] * saturation_threshold(fn, dt) + GATE_MARGIN[1]
                for fn in ("sigmoid", "tanh")}
    W_ih, W_hh = p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"]
    b_ih, b_hh = p["rnn.bias_ih_l0"], p["rnn.bias_hh_l0"]
    notes = []
    for q, name in enumerate("ifgo"):
        v0 = [W_ih[q, 0], W_ih[q, 1], W_hh[q, 0], b_ih[q], b_hh[q]]
        rows, t = [], []
        for tok in (0, 1):
            # g: sign * pre >= T on '(' and -sign * pre >= T on ')'; i, f, o: pre >= T
            direction = (sign if tok == 0 else -sign) if name == "g" else 1.0
            for h in (-1.0, 1.0):
                e = [1.0 if tok == 0 else 0.0, 1.0 if tok == 1 else 0.0, h, 1.0, 1.0]
                rows.append([direction * x for x in e])
                t.append(targets_["tanh" if name == "g" else "sigmoid"])
        v = project(v0, rows, t)
        if not np.array_equal(v, np.asarray(v0)):
            notes.append(f"gate {name}: moved {np.linalg.norm(v - v0):.4g} to saturate")
        W_ih[q, 0], W_ih[q, 1], W_hh[q, 0], b_ih[q], b_hh[q] = v
    # h = o tanh(c) = sign * tanh(depth) exactly; the ')' logit w1 h + b1 must be <= -m at
    # depth 0 (h = 0) and >= m at depth 1 (h = sign * tanh(1)); it rises with depth.
    t1 = sign * float(kernel_values("tanh", [1.0], dt, "lstm")[0])
    w, b = p["readout.weight"], p["readout.bias"]
    m1 = _logit_slack(dt, w[1, 0], b[1])
    w[1, 0], b[1] = project([w[1, 0], b[1]], [[0.0, -1.0], [t1, 1.0]], [m1, m1])
    m0 = _logit_slack(dt, w[0, 0], b[0])
    # '(' logit w0 h + b0 >= m on h in [-1, 1]
    w[0, 0], b[0] = project([w[0, 0], b[0]], [[1.0, 1.0], [-1.0, 1.0]], [m0, m0])
    out = _build(model, p)
    counter = {"sign": sign, "variable": "c", "step_before": dist["increment"],
               "decrement_before": dist["decrement"], "step_after": sign * 1.0,
               "forget_before": dist["decay_open"], "forget_after": 1.0}
    return Repair(out, "snap", counter, _changes(model, out), notes)


def repair(model: CounterRNN) -> Repair:
    """The nearest exact counter to a hidden-size-1 LSTM or ReLU `model`.

    Raises RepairRefused (a ValueError) for a GRU, for hidden size > 1, and when the model
    has no identifiable counter. Results satisfy `distance_from_ideal(...)["float_exact"] ==
    1` and have a positive readout margin (checked).
    """
    if model.cell == "gru":
        raise RepairRefused(_gru_refusal(model))
    sign, dist = _identify(model)
    fixed = {"relu": _repair_relu, "lstm": _repair_lstm}[model.cell]
    result = fixed(model, sign, dist)
    from constructions.conditions import distance_from_ideal

    after = distance_from_ideal(result.model)
    if after["float_exact"] != 1.0 or not after["readout_margin"] > 0:
        raise RuntimeError(f"repair did not reach an exact counter: {after}")
    return result


def _gru_refusal(model: CounterRNN) -> str:
    """Why a GRU is not repaired, with its own leak and what a leaky GRU could reach."""
    from constructions.affine import AffineCounter, nested_failure_depth
    from constructions.conditions import distance_from_ideal

    why = ("a GRU cannot count exactly: h' = (1 - z) n + z h keeps |h| < 1, so no weights "
           "give an exact counter")
    if model.hidden_size == 1:
        dist = distance_from_ideal(model)
        z = max(dist["decay_open"], dist["decay_close"])
        if 0.0 < z < 1.0:
            depth = nested_failure_depth(AffineCounter.leaky(1.0 - z))
            why += (f"; a leaky counter with this model's own leak (eps = 1 - z = {1 - z:.3g} "
                    f"at h = 0) would be right only to nesting depth {depth - 1}")
    eps = 1e-6
    best = nested_failure_depth(AffineCounter.leaky(eps)) - 1
    return why + (f". The best a GRU can do is a leaky counter with a tiny leak: `counting "
                  f"construct --cell gru --eps {eps:g}` is right to nesting depth {best}")
