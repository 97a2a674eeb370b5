"""Exact-counting conditions, derived with sympy from the cell equations, and evaluated on any
hidden-size-1 model as its distance from the ideal counter.

Cell equations (PyTorch's, hidden size 1; x = one-hot token, '(' = (1, 0), ')' = (0, 1);
p_k = wx_k . x + bx_k + wh_k h_g + bh_k is gate k's pre-activation, sigma the logistic):

    LSTM: c' = sigma(p_f) c + sigma(p_i) tanh(p_g),    h' = sigma(p_o) tanh(c')
    GRU:  h' = (1 - sigma(p_z)) n + sigma(p_z) h,
          n = tanh(wx_n . x + bx_n + sigma(p_r) (wh_n h_g + bh_n))
    ReLU: h' = max(0, wx_h . x + bx_h + bh_h + wh_h h)

The counter u is c (LSTM) or h (GRU, ReLU). Gates read the state through h_g; with h_g frozen
(exactly right when the gates' W_hh are 0, as in the constructions, and a first-order model
otherwise, evaluated at h_g = 0) the update of u is affine for each token:

    u' = a_tau u + b_tau:   LSTM a = f, b = i g;   GRU a = z, b = (1 - z) n;   ReLU a = wh_h,
                            b = wx_h[tau] + bx_h + bh_h (then clipped at 0).

`counter_update` derives a_tau, b_tau by differentiating the update in u (and checks it is
affine); `readout_threshold` solves the ')'-logit ro_w1 phi(u) + ro_b1 = 0 (phi = o tanh for the
LSTM, identity otherwise). The exact-counting conditions are then

    step mismatch   b_open + b_close = 0        (increment = -decrement)
    leak            1 - a_tau = 0               (forget gate f = 1; z = 1; W_hh = 1 for ReLU)
    readout         0 <= theta_close, theta_open < b_open, theta_close < b_open
                    (threshold strictly between depth 0 and one step; readout margin > 0)

and `drift_closed_forms` solves u_{n+1} = a u_n + b with sympy's rsolve to give the counter
on nested(D) of the perturbed families (e.g. the leaky counter at depth 1 on the way down is
1 - eps (D^2 - 1) + O(eps^2); the mismatched ReLU's is D up - (D - 1) down).

`distance_from_ideal(model)` evaluates these expressions on a model's weights, with sigma and
tanh replaced by the kernels the model itself runs (nn.LSTM's oneDNN kernels in float32), and
returns JSON-serialisable floats (None where a quantity is undefined).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch

from constructions.closed_forms import INF, AffineCounter, float_limit, nested_failure_depth
from constructions.closed_forms import predicted_first_failure as _predict
from constructions.saturation import kernel_values
from counting.cells import gru as cells_gru
from counting.cells import lstm as cells_lstm
from counting.cells import relu as cells_relu
from counting.cells.registry import REGISTRY
from counting.datasets import ZIGZAG_J
from counting.generators import zigzag

sigma = sp.Function("sigma")  # the logistic function 1 / (1 + exp(-x))
# gate letters in the row order of weight_ih_l0 (counting.cells.registry), this module's order
GATES = {name: "".join(REGISTRY[name].gates) for name in ("lstm", "gru", "relu")}
TOKENS = {"open": (1, 0), "close": (0, 1)}
KERNEL = {"lstm": "lstm", "gru": "gru", "relu": "torch"}
h, c, hg, x0, x1 = sp.symbols("h c h_g x0 x1", real=True)
ZIGZAG_LEN = 2000


# ----------------------------------------------------------------- symbols and equations
@functools.cache
def weight_symbols(cell: str) -> dict:
    """{sympy Symbol: (state_dict name, index)} for a hidden-size-1 `cell`."""
    if cell not in GATES:
        raise ValueError(f"cell must be one of {tuple(GATES)}, got {cell!r}")
    out = {}
    for row, k in enumerate(GATES[cell]):
        for col, tok in enumerate(TOKENS):
            out[sp.Symbol(f"wx_{k}_{tok}", real=True)] = ("rnn.weight_ih_l0", (row, col))
        out[sp.Symbol(f"wh_{k}", real=True)] = ("rnn.weight_hh_l0", (row, 0))
        out[sp.Symbol(f"bx_{k}", real=True)] = ("rnn.bias_ih_l0", (row,))
        out[sp.Symbol(f"bh_{k}", real=True)] = ("rnn.bias_hh_l0", (row,))
    for j in (0, 1):
        out[sp.Symbol(f"ro_w{j}", real=True)] = ("readout.weight", (j, 0))
        out[sp.Symbol(f"ro_b{j}", real=True)] = ("readout.bias", (j,))
    return out


def _s(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _pre(k: str, state=hg) -> sp.Expr:
    return (_s(f"wx_{k}_open") * x0 + _s(f"wx_{k}_close") * x1 + _s(f"bx_{k}")
            + _s(f"wh_{k}") * state + _s(f"bh_{k}"))


def _steps() -> dict:
    """The cells' generic steps (counting.cells) on sympy expressions."""
    sig, th = (lambda env, x: sigma(x)), (lambda env, x: sp.tanh(x))
    return {"lstm": cells_lstm.make_step(sig, th), "gru": cells_gru.make_step(sig, th),
            "relu": cells_relu.make_step(lambda env, x: sp.Max(0, x))}


def _terms(cell: str, state) -> tuple[list, list]:
    """(gh, gi) per gate: the recurrent term wh_k state + bh_k and the input term
    wx_k . x + bx_k, as the cells' steps take them."""
    ks = GATES[cell]
    gh = [_s(f"wh_{k}") * state + _s(f"bh_{k}") for k in ks]
    gi = [_s(f"wx_{k}_open") * x0 + _s(f"wx_{k}_close") * x1 + _s(f"bx_{k}") for k in ks]
    return gh, gi


@functools.cache
def gates(cell: str) -> dict:
    """{gate name: expression in the weights, x0, x1 and h_g}: the cell's generic step
    (counting.cells) on sympy symbols."""
    if cell not in GATES:
        raise ValueError(f"cell must be one of {tuple(GATES)}, got {cell!r}")
    if cell == "relu":
        return {}
    out = _steps()[cell](None, *_terms(cell, hg), c if cell == "lstm" else h)
    return dict(zip(GATES[cell], out[2:6] if cell == "lstm" else out[1:4]))


@functools.cache
def cell_update(cell: str) -> dict:
    """The full (unfrozen, h_g = h) next state: {'h': h', 'c': c'} (LSTM) or {'h': h'}: the
    cell's generic step (counting.cells) on sympy symbols, in torch's form (the GRU's
    h' = (h - n) z + n)."""
    if cell not in GATES:
        raise ValueError(f"cell must be one of {tuple(GATES)}, got {cell!r}")
    if cell == "relu":
        return {"h": _steps()["relu"](None, *_terms(cell, h))[0]}
    if cell == "lstm":
        h_new, c_new = _steps()["lstm"](None, *_terms(cell, h), c)[:2]
        return {"c": c_new, "h": h_new}
    return {"h": _steps()["gru"](None, *_terms(cell, h), h)[0]}


def counter_symbol(cell: str) -> sp.Symbol:
    return c if cell == "lstm" else h


@functools.cache
def counter_update(cell: str, token: str) -> tuple[sp.Expr, sp.Expr]:
    """(a, b) with u' = a u + b for `token` ('open'|'close'), gates frozen at h_g (ReLU: before
    its clip at 0). Raises if the frozen update is not affine in u.

    Its own form of the update, not the generic step's: the GRU's (1 - z) n + z h (torch's
    (h - n) z + n is equal as an expression, tested in tests/test_cell_conformance.py)
    keeps b = (1 - z) n, whose float evaluation `distance_from_ideal` reports."""
    u = counter_symbol(cell)
    if cell == "relu":
        expr = _pre("h", h)
    elif cell == "lstm":
        g = gates(cell)
        expr = g["f"] * c + g["i"] * g["g"]
    else:
        g = gates(cell)
        expr = (1 - g["z"]) * g["n"] + g["z"] * h
    expr = expr.subs(dict(zip((x0, x1), TOKENS[token])))
    a, b = sp.diff(expr, u), expr.subs(u, 0)
    if sp.simplify(expr - (a * u + b)) != 0 or sp.diff(a, u) != 0:
        raise AssertionError(f"{cell} counter update is not affine in {u}")
    return a, b


@functools.cache
def readout_threshold(cell: str, token: str) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(theta, slope sign factor, ratio) for the ')'-output after `token`: the logit
    ro_w1 phi(u) + ro_b1 is 0 at u = theta (LSTM: phi = o tanh(u), theta = atanh(ratio),
    ratio = -ro_b1 / (ro_w1 o); otherwise theta = ratio = -ro_b1 / ro_w1); the output is on
    iff sign(slope) (u - theta) > 0."""
    u = counter_symbol(cell)
    w1, b1 = _s("ro_w1"), _s("ro_b1")
    if cell == "lstm":
        o = gates(cell)["o"].subs(dict(zip((x0, x1), TOKENS[token])))
        phi = o * sp.tanh(u)
    else:
        phi = u
    logit = w1 * phi + b1
    slope = sp.diff(logit, u).subs(u, 0)  # sign of the slope (tanh' > 0)
    ratio = sp.solve(sp.Eq(logit.subs(sp.tanh(u), sp.Symbol("T")), 0), sp.Symbol("T"))[0] \
        if cell == "lstm" else sp.solve(sp.Eq(logit, 0), u)[0]
    theta = sp.atanh(ratio) if cell == "lstm" else ratio
    return theta, slope, ratio


@functools.cache
def conditions(cell: str) -> dict:
    """The exact-counting conditions of `cell` as sympy expressions (each is 0 / positive on
    an exact counter): step_mismatch, leak_open, leak_close, threshold_open, threshold_close."""
    (a_o, b_o), (a_c, b_c) = counter_update(cell, "open"), counter_update(cell, "close")
    return {
        "step_mismatch": b_o + b_c,
        "leak_open": 1 - a_o,
        "leak_close": 1 - a_c,
        "threshold_open": readout_threshold(cell, "open")[0],
        "threshold_close": readout_threshold(cell, "close")[0],
    }


# ----------------------------------------------------------------------- drift closed forms
@functools.cache
def drift_closed_forms() -> dict:
    """Closed forms (rsolve) of u_{n+1} = a u_n + b and the counter on nested(D):

    'run': u_n from u_0 (a != 1);  'run_a1': u_n for a = 1;
    'leaky_depth1' / 'leaky_depth0': the leaky counter (a = 1 - eps, b = +-1) after D opens
        and D - 1 resp. D closes;  'leaky_depth1_series': its expansion to O(eps^2);
    'relu_depth1' / 'relu_depth0': the same for h' = w h +- (up | down) (w != 1), and
    'relu_depth1_w1' / 'relu_depth0_w1': for w = 1.
    """
    n = sp.Symbol("n", integer=True, nonnegative=True)
    a, b, u0 = sp.symbols("a b u0", real=True)
    eps, up, down, w = sp.symbols("eps up down w", positive=True)
    D = sp.Symbol("D", integer=True, positive=True)
    u = sp.Function("u")
    run = sp.rsolve(u(n + 1) - a * u(n) - b, u(n), {u(0): u0})
    run_a1 = sp.rsolve(u(n + 1) - u(n) - b, u(n), {u(0): u0})

    def after(aa, bb, start, steps, form):
        return form.subs({a: aa, b: bb, u0: start, n: steps})

    top = after(1 - eps, 1, 0, D, run)
    leaky1 = after(1 - eps, -1, top, D - 1, run)
    leaky0 = after(1 - eps, -1, top, D, run)
    rtop = after(w, up, 0, D, run)
    rtop1 = run_a1.subs({b: up, u0: 0, n: D})
    return {
        "run": run,
        "run_a1": run_a1,
        "leaky_depth1": leaky1,
        "leaky_depth0": leaky0,
        "leaky_depth1_series": sp.expand(sp.simplify(sp.series(leaky1, eps, 0, 2).removeO())),
        "relu_depth1": after(w, -down, rtop, D - 1, run),
        "relu_depth0": after(w, -down, rtop, D, run),
        "relu_depth1_w1": sp.expand(run_a1.subs({b: -down, u0: rtop1, n: D - 1})),
        "relu_depth0_w1": sp.expand(run_a1.subs({b: -down, u0: rtop1, n: D})),
    }


# ------------------------------------------------------------------------- evaluation
def _values(model) -> dict:
    if model.hidden_size != 1:
        raise ValueError(f"needs a model of hidden size 1, got {model.hidden_size}")
    state = model.state_dict()
    return {s: float(state[name][idx]) for s, (name, idx) in weight_symbols(model.cell).items()}


@functools.cache
def _compiled(expr, cell: str, kernel: str, dtype) -> callable:
    """expr lambdified once, as f(*weights in weight_symbols(cell) order, h_g)."""
    mods = [{"sigma": lambda x: kernel_values("sigmoid", x, dtype, kernel),
             "tanh": lambda x: kernel_values("tanh", x, dtype, kernel),
             "atanh": np.arctanh}, "numpy"]
    return sp.lambdify([*weight_symbols(cell), hg], expr, modules=mods)


def _evaluator(model):
    """f(expr, h_g) -> float: expr evaluated on the model's weights with its own kernels."""
    kernel, dtype = KERNEL[model.cell], model.dtype
    vals = list(_values(model).values())

    def ev(expr, h_g: float = 0.0) -> float:
        fn = _compiled(sp.sympify(expr), model.cell, kernel, dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.asarray(fn(*vals, h_g), dtype=np.float64))

    return ev


def _in_dtype(x: float, dtype) -> float:
    return float(torch.tensor(x, dtype=torch.float64).to(dtype).double())


def _affine_and_extras(model) -> tuple[AffineCounter, dict]:
    cell, ev = model.cell, _evaluator(model)
    p = {}
    for tok in TOKENS:
        a, b = counter_update(cell, tok)
        p[f"a_{tok}"] = _in_dtype(ev(a), model.dtype)
        p[f"b_{tok}"] = _in_dtype(ev(b), model.dtype)
        _, slope, ratio = readout_threshold(cell, tok)
        sl, b1 = ev(slope), ev(_s("ro_b1"))
        if sl == 0:  # the readout ignores the counter; ratio = -b1/0 is undefined
            p[f"theta_{tok}"], p[f"sign_{tok}"] = (-INF if b1 > 0 else INF), 1.0
        else:
            r = ev(ratio)
            if cell == "lstm":  # |ratio| >= 1: tanh never crosses it, theta = +-inf
                with np.errstate(divide="ignore"):
                    r = float(np.arctanh(np.clip(r, -1.0, 1.0)))
            p[f"theta_{tok}"] = r
            p[f"sign_{tok}"] = math.copysign(1.0, sl)
    lo, hi = (0.0 if cell == "relu" else -INF), INF
    step = p["b_open"]
    if (p["a_open"] == p["a_close"] == 1.0 and (step > 0 or (step < 0 and cell != "relu"))
            and p["b_close"] == -step and math.frexp(abs(step))[0] == 0.5):
        # a = 1, steps +-2^k (either sign of counter): the float limit applies
        hi = float_limit(model.dtype) * abs(step)
        lo = 0.0 if cell == "relu" else -hi
    counter = AffineCounter(p["a_open"], p["b_open"], p["a_close"], p["b_close"],
                            p["theta_open"], p["theta_close"], p["sign_open"], lo, hi)
    extras = {"sign_close": p["sign_close"], "evaluate": ev}
    return counter, extras


def affine_counter(model) -> AffineCounter:
    """The model's counter as an AffineCounter (gates frozen at h_g = 0), for
    `predicted_first_failure`. Exact for the constructions, including the float limit."""
    return _affine_and_extras(model)[0]


def _clean(x):
    if x is None or isinstance(x, int):
        return x
    x = float(x)
    return x if math.isfinite(x) else None


def distance_from_ideal(model) -> dict:
    """How far a hidden-size-1 CounterRNN is from an exact counter. -> {name: float | None}:

    increment, decrement     b_open and -b_close (counter units; LSTM: i g, GRU: (1 - z) n)
    step_mismatch            increment - decrement (0 when exact); relative_step_mismatch =
                             that / increment; step_ratio = decrement / increment
    decay_open/close         a (LSTM f, GRU z, ReLU W_hh); forget_shortfall_open/close = 1 - a,
                             forget_shortfall = the larger; w_hh_minus_1 (ReLU only)
    threshold_open/close     readout threshold in counter units after '(' / ')'
    readout_margin           min(theta_close, inc - theta_open, inc - theta_close) / inc, signed
                             by the readout direction: > 0 iff the readout condition holds
    open_readout_logit_min   the '('-output logit's minimum over |h| <= 1 (LSTM, GRU) or at
                             h >= 0 (ReLU; None if unbounded below); > 0 means always right
    gate_<k>_<tok>           gate values at h_g = 0 (LSTM i f g o, GRU r z n)
    decay_h_spread, step_h_spread   max |a(h_g) - a(0)|, |b(h_g) - b(0)| over h_g = +-1: how
                             much the frozen-gate model can be off (0 for the constructions)
    float_exact              1.0 if the counter is exact in the model's dtype, else 0.0
    predicted_nested_failure_depth  smallest D whose nested(D) gets a token wrong (int; None:
                             none up to 2^53); predicted_max_correct_depth = that - 1
    leak_depth_first_order   sqrt((1 - theta_open / inc) / forget_shortfall + 1): the depth at
                             which the leak alone makes nested(D) fail, to first order
    predicted_fpf_zigzag_j<j>   predicted FPF on the paper's zigzag sequences (2000 tokens)

    Depths and positions are ints. Gate values come from the model's own kernels in its
    dtype; everything else is float64.
    For models whose gates read h (W_hh != 0) the predictions are first-order (h_g = 0).
    """
    cell = model.cell
    counter, extras = _affine_and_extras(model)
    ev = extras["evaluate"]
    inc, dec = counter.b_open, -counter.b_close
    s = counter.sign
    out = {
        "increment": inc,
        "decrement": dec,
        "step_mismatch": inc - dec,
        "relative_step_mismatch": (inc - dec) / inc if inc else None,
        "step_ratio": dec / inc if inc else None,
        "decay_open": counter.a_open,
        "decay_close": counter.a_close,
        "forget_shortfall_open": 1.0 - counter.a_open,
        "forget_shortfall_close": 1.0 - counter.a_close,
        "forget_shortfall": max(1.0 - counter.a_open, 1.0 - counter.a_close),
        "w_hh_minus_1": counter.a_open - 1.0 if cell == "relu" else None,
        "threshold_open": counter.theta_open,
        "threshold_close": counter.theta_close,
    }
    if inc and extras["sign_close"] == s:
        tc, to = s * counter.theta_close, s * counter.theta_open
        si = s * inc
        out["readout_margin"] = min(tc, si - to, si - tc) / abs(inc)
    else:
        out["readout_margin"] = None
    w0, b0 = ev(_s("ro_w0")), ev(_s("ro_b0"))
    if cell == "relu":
        out["open_readout_logit_min"] = b0 if w0 >= 0 else None
    else:
        out["open_readout_logit_min"] = b0 - abs(w0)
    for k, expr in gates(cell).items():
        for tok, x in TOKENS.items():
            out[f"gate_{k}_{tok}"] = ev(expr.subs(dict(zip((x0, x1), x))))
    spread_a = spread_b = 0.0
    for tok in TOKENS:
        a, b = counter_update(cell, tok)
        a0, b0_ = ev(a), ev(b)
        for h_g in (-1.0, 1.0):
            spread_a = max(spread_a, abs(ev(a, h_g) - a0))
            spread_b = max(spread_b, abs(ev(b, h_g) - b0_))
    out["decay_h_spread"], out["step_h_spread"] = spread_a, spread_b
    out["float_exact"] = 1.0 if math.isfinite(counter.hi) else 0.0
    D = nested_failure_depth(counter) if min(counter.a_open, counter.a_close) >= 0 else None
    out["predicted_nested_failure_depth"] = D
    out["predicted_max_correct_depth"] = D - 1 if D is not None else None
    short = out["forget_shortfall"]
    q = (1.0 - counter.theta_open / inc) / short + 1.0 if inc and short > 0 else None
    out["leak_depth_first_order"] = math.sqrt(q) if q is not None and q > 0 else None
    for j in ZIGZAG_J:
        f = _predict(counter, zigzag(j, ZIGZAG_LEN))
        out[f"predicted_fpf_zigzag_j{j}"] = ZIGZAG_LEN if f is None else int(f)
    return {k: _clean(v) for k, v in out.items()}
