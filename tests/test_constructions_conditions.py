"""The sympy derivations against torch, the exact-counting conditions on exact and perturbed
models, and distance_from_ideal on any hidden-size-1 model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp
import torch

import constructions
from constructions import conditions as cond
from constructions.conditions import affine_counter, distance_from_ideal
from counting.dyck import one_hot, targets
from counting.generators import nested, uniform_word
from counting.metrics import token_correct
from counting.models import init_model


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lambdified(model, expr, args):
    """expr on the model's weights, as a numpy function of `args` (an independent sigmoid)."""
    state = model.state_dict()
    vals = {s: float(state[n][i]) for s, (n, i) in cond.weight_symbols(model.cell).items()}
    return sp.lambdify(args, expr.subs(vals), modules=[{"sigma": np_sigmoid}, "numpy"])


# ------------------------------------------------------------- sympy equations vs torch
@pytest.mark.parametrize("cell", ["lstm", "gru", "relu"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@torch.no_grad()
def test_symbolic_cell_update_is_torchs(cell, seed):
    model = init_model(cell, 1, seed=seed, dtype=torch.float64)
    upd = cond.cell_update(cell)
    rng = np.random.default_rng(seed)
    B = 40
    h0 = rng.uniform(-1, 1, B) if cell != "relu" else rng.uniform(0, 3, B)
    c0 = rng.uniform(-5, 5, B)
    tok = rng.integers(0, 2, B)
    x = torch.zeros(B, 1, 2, dtype=torch.float64)
    x[np.arange(B), 0, tok] = 1.0
    H0 = torch.as_tensor(h0).reshape(1, B, 1)
    if cell == "lstm":
        _, (h1, c1) = model.rnn(x, (H0, torch.as_tensor(c0).reshape(1, B, 1)))
        want = {"h": h1.reshape(-1).numpy(), "c": c1.reshape(-1).numpy()}
    else:
        _, h1 = model.rnn(x, H0)
        want = {"h": h1.reshape(-1).numpy()}
    args = [cond.h, cond.c, cond.x0, cond.x1]
    for k, expr in upd.items():
        got = lambdified(model, expr, args)(h0, c0, (tok == 0) * 1.0, (tok == 1) * 1.0)
        np.testing.assert_allclose(got, want[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["lstm", "gru", "relu"])
@torch.no_grad()
def test_counter_update_is_the_affine_part_of_torchs_step(cell):
    """With W_hh = 0 the gates do not read h, and u' = a u + b holds exactly for the layer."""
    model = init_model(cell, 1, seed=5, dtype=torch.float64)
    if cell != "relu":
        model.rnn.weight_hh_l0.zero_()
    u0 = torch.tensor([0.3, 2.0, 0.0, 0.7], dtype=torch.float64)
    for tok, name in ((0, "open"), (1, "close")):
        a, b = cond.counter_update(cell, name)
        fa = lambdified(model, a, [cond.hg])(0.0)
        fb = lambdified(model, b, [cond.hg])(0.0)
        x = torch.zeros(4, 1, 2, dtype=torch.float64)
        x[:, 0, tok] = 1.0
        if cell == "lstm":
            _, (_, c1) = model.rnn(x, (torch.zeros(1, 4, 1, dtype=torch.float64),
                                      u0.reshape(1, 4, 1)))
            got = c1.reshape(-1).numpy()
        else:
            _, h1 = model.rnn(x, u0.reshape(1, 4, 1))
            got = h1.reshape(-1).numpy()
        want = fa * u0.numpy() + fb
        if cell == "relu":
            want = np.maximum(want, 0.0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_readout_threshold_is_where_the_logit_crosses_zero():
    for cell in ("lstm", "gru", "relu"):
        model = init_model(cell, 1, seed=3, dtype=torch.float64)
        theta, _, _ = cond.readout_threshold(cell, "open")
        w1, b1 = model.readout.weight[1, 0].item(), model.readout.bias[1].item()
        with np.errstate(invalid="ignore"):  # atanh of a ratio outside (-1, 1): no crossing
            th = float(lambdified(model, theta, [cond.hg])(0.0))
        if cell == "lstm":
            o = float(lambdified(model, cond.gates("lstm")["o"].subs({cond.x0: 1, cond.x1: 0}),
                                 [cond.hg])(0.0))
            phi = o * math.tanh(th)
        else:
            phi = th
        if math.isfinite(th):
            assert abs(w1 * phi + b1) < 1e-12


def test_conditions_are_zero_on_the_ideal_weights():
    """Substituting the construction's weights symbolically with saturated gates
    (sigma -> 1 on the large pre-activations, tanh(+-G) -> +-1) makes every condition hold."""
    for cell in ("lstm", "relu"):
        model = constructions.exact_counter(cell)
        vals = {s: float(model.state_dict()[n][i])
                for s, (n, i) in cond.weight_symbols(cell).items()}
        conds = {k: v.subs(vals).subs(cond.hg, 0) for k, v in cond.conditions(cell).items()}
        S, G = constructions.gate_magnitudes()
        sat = {cond.sigma(sp.Float(S)): 1, sp.tanh(sp.Float(G)): 1, sp.tanh(sp.Float(-G)): -1}
        conds = {k: sp.nsimplify(v.subs(sat)) for k, v in conds.items()}
        assert conds["step_mismatch"] == 0
        assert conds["leak_open"] == 0 and conds["leak_close"] == 0
        assert sp.N(conds["threshold_open"]) == pytest.approx(0.5, abs=1e-12)


# ------------------------------------------------------------------ drift closed forms
def test_drift_closed_forms():
    f = cond.drift_closed_forms()
    eps, D, up, down, w = sp.symbols("eps D up down w", positive=True)
    D = sp.Symbol("D", integer=True, positive=True)
    assert sp.simplify(f["leaky_depth1_series"] - (1 - eps * (D**2 - 1))) == 0
    assert sp.simplify(f["relu_depth1_w1"] - (D * up - (D - 1) * down)) == 0
    assert sp.simplify(f["relu_depth0_w1"] - D * (up - down)) == 0
    # the closed forms against the counter iterated step by step
    for e, d in ((0.01, 7), (0.001, 40)):
        u = 0.0
        for _ in range(d):
            u = (1 - e) * u + 1
        for _ in range(d - 1):
            u = (1 - e) * u - 1
        exact = f["leaky_depth1"].subs({eps: sp.Rational(repr(e)), D: d})  # no cancellation
        assert float(exact) == pytest.approx(u, rel=1e-12)
    for ww, uu, dd, d in ((0.99, 1.0, 1.0, 30), (1.01, 0.8, 0.9, 12)):
        h = 0.0
        for _ in range(d):
            h = ww * h + uu
        for _ in range(d - 1):
            h = ww * h - dd
        got = float(f["relu_depth1"].subs({w: sp.Rational(repr(ww)), up: sp.Rational(repr(uu)),
                                           down: sp.Rational(repr(dd)), D: d}))
        assert got == pytest.approx(h, rel=1e-10)


@pytest.mark.parametrize("eps", [1e-2, 1e-3])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@torch.no_grad()
def test_leaky_models_drift_by_the_closed_form(cell, eps):
    """The model's counter at depth 1 of nested(D) (c for the LSTM, h / eps for the GRU) is
    the closed form leaky_depth1, to float rounding."""
    D = 15
    model = constructions.leaky_counter(cell, eps)
    x = torch.as_tensor(one_hot(nested(D)[: 2 * D - 1])).reshape(1, -1, 2)
    if cell == "lstm":
        _, (_, c) = model.rnn(x)
        u = c.item()
    else:
        _, h = model.rnn(x)
        u = h.item() / eps
    f = cond.drift_closed_forms()["leaky_depth1"]
    want = float(f.subs({sp.Symbol("eps", positive=True): sp.Rational(repr(eps)),
                         sp.Symbol("D", integer=True, positive=True): D}))
    assert u == pytest.approx(want, rel=1e-9)


# ------------------------------------------------------------- distance from ideal
@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_counters_meet_every_condition(cell, dtype):
    d = distance_from_ideal(constructions.exact_counter(cell, dtype))
    json.dumps(d, allow_nan=False)
    assert d["step_mismatch"] == 0.0 and d["forget_shortfall"] == 0.0
    assert d["increment"] == d["decrement"] == 1.0
    assert d["readout_margin"] == pytest.approx(0.5, abs=1e-6) and d["readout_margin"] > 0
    assert d["open_readout_logit_min"] > 0
    assert d["float_exact"] == 1.0 and d["decay_h_spread"] == d["step_h_spread"] == 0.0
    p = 24 if dtype == torch.float32 else 53
    assert d["predicted_nested_failure_depth"] == 2**p + 1
    assert all(v == 2000 for k, v in d.items() if k.startswith("predicted_fpf_zigzag"))
    if cell == "lstm":
        for g in "ifo":
            assert d[f"gate_{g}_open"] == d[f"gate_{g}_close"] == 1.0
        assert d["gate_g_open"] == 1.0 and d["gate_g_close"] == -1.0
    else:
        assert d["w_hh_minus_1"] == 0.0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("eps", [1e-2, 1e-4])
def test_leaky_counters_violate_the_leak_condition_by_eps(cell, eps):
    d = distance_from_ideal(constructions.leaky_counter(cell, eps))
    assert d["forget_shortfall"] == pytest.approx(eps, rel=1e-9)
    assert d["forget_shortfall_open"] == d["forget_shortfall_close"]
    assert d["step_mismatch"] == 0.0 and d["readout_margin"] > 0.49
    assert d["float_exact"] == 0.0
    D = constructions.nested_failure_depth(constructions.AffineCounter.leaky(eps))
    assert d["predicted_nested_failure_depth"] == D
    assert d["leak_depth_first_order"] == pytest.approx(math.sqrt(0.5 / eps + 1))


@pytest.mark.parametrize("up,down,w_hh", [(1.0, 1.1, 1.0), (1.0, 0.9, 1.0), (1.0, 1.0, 0.99),
                                          (0.5, 0.5, 1.02)])
def test_mismatched_relu_violates_by_the_mismatch(up, down, w_hh):
    d = distance_from_ideal(constructions.mismatched_relu(up, down, w_hh))
    assert d["step_mismatch"] == pytest.approx(up - down, abs=1e-15)
    assert d["relative_step_mismatch"] == pytest.approx((up - down) / up)
    assert d["w_hh_minus_1"] == w_hh - 1.0
    assert d["forget_shortfall"] == 1.0 - w_hh
    assert d["threshold_open"] == up / 2 and d["readout_margin"] == 0.5


@pytest.mark.parametrize("cell", ["lstm", "gru", "relu"])
@pytest.mark.parametrize("seed", [0, 1])
def test_distance_from_ideal_on_untrained_models_is_json(cell, seed):
    for dtype in (torch.float32, torch.float64):
        d = distance_from_ideal(init_model(cell, 1, seed=seed, dtype=dtype))
        json.dumps(d, allow_nan=False)
        assert all(v is None or isinstance(v, (int, float)) for v in d.values())
        assert {"step_mismatch", "forget_shortfall", "readout_margin",
                "predicted_nested_failure_depth"} <= set(d)


def test_distance_from_ideal_needs_hidden_size_one():
    with pytest.raises(ValueError, match="hidden size 1"):
        distance_from_ideal(init_model("relu", 2))


@torch.no_grad()
def noisy_counter(cell: str, rng) -> torch.nn.Module:
    """A counter with random, unsaturated gates and a random readout threshold (gates do not
    read h: W_hh = 0 except ReLU's own recurrent weight)."""
    u = rng.uniform
    model = init_model(cell, 1, seed=0, dtype=torch.float64)
    for p in model.parameters():
        p.zero_()
    w_ih, b_ih, b_hh = model.rnn.weight_ih_l0, model.rnn.bias_ih_l0, model.rnn.bias_hh_l0
    if cell == "relu":
        w_ih[0] = torch.tensor([u(0.8, 1.2), -u(0.8, 1.2)])
        model.rnn.weight_hh_l0[0, 0] = u(0.97, 1.03)
        b_ih[0], b_hh[0] = u(-0.05, 0.05), u(-0.05, 0.05)
    elif cell == "lstm":  # rows i f g o
        w_ih[0], b_ih[0] = torch.tensor(u(-1, 1, 2)), u(1, 5)
        w_ih[1], b_ih[1] = torch.tensor(u(-0.5, 0.5, 2)), u(3, 8)
        w_ih[2], b_hh[2] = torch.tensor([u(0.5, 3), -u(0.5, 3)]), u(-0.1, 0.1)
        w_ih[3], b_ih[3] = torch.tensor(u(-1, 1, 2)), u(0, 3)
    else:  # rows r z n
        w_ih[0], b_ih[0], b_hh[2] = torch.tensor(u(-1, 1, 2)), u(-1, 1), u(-0.2, 0.2)
        w_ih[1], b_ih[1] = torch.tensor(u(-0.5, 0.5, 2)), u(2, 5)
        w_ih[2] = torch.tensor([u(0.5, 3), -u(0.5, 3)])
    # readout threshold at a random fraction of the first step (a ratio test, not a choice
    # that could make the prediction easy: any finite threshold is exact here)
    d = distance_from_ideal(model)
    k, step = u(0.2, 0.8), d["increment"]
    w1 = u(2, 10) / abs(step)
    phi = math.tanh(k * step) * d["gate_o_open"] if cell == "lstm" else k * step
    model.readout.weight[1, 0] = w1
    model.readout.bias[1] = -w1 * phi
    model.readout.bias[0] = 5.0
    return model


@pytest.mark.parametrize("cell", ["lstm", "gru", "relu"])
@pytest.mark.parametrize("seed", range(6))
@torch.no_grad()
def test_prediction_is_exact_for_any_model_whose_gates_ignore_h(cell, seed):
    """Random weights - noisy counters, and PyTorch's init with W_hh = 0 (ReLU: any W_hh):
    the affine model read off the weights is exact, so the predicted first error of the
    ')'-output is the measured one."""
    rng = np.random.default_rng(seed)
    noisy = noisy_counter(cell, rng)
    plain = init_model(cell, 1, seed=seed, dtype=torch.float64)
    if cell != "relu":
        plain.rnn.weight_hh_l0.zero_()
    found = []
    for model in (noisy, plain):
        counter = affine_counter(model)
        for s in [uniform_word(rng, 400) for _ in range(4)] + [nested(60), nested(7)]:
            p = model(torch.as_tensor(one_hot(s))).numpy()
            t = targets(s)
            wrong = np.flatnonzero(~token_correct(p[:, 1:], t[:, 1:]))
            want = int(wrong[0]) if wrong.size else None
            assert constructions.predicted_first_failure(counter, s) == want
            found.append(want)
    assert any(f is None or f > 2 for f in found[:6])  # the noisy counter counts a while


@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_distance_from_ideal_when_the_readout_ignores_the_counter(cell):
    # A zero ')' readout weight made sympy's ratio -b/0 = zoo and crashed the evaluation.
    from constructions import exact_counter
    from constructions.conditions import distance_from_ideal

    model = exact_counter(cell)
    with torch.no_grad():
        model.readout.weight[1] = 0.0
    d = distance_from_ideal(model)
    assert d["step_mismatch"] == 0.0 and d["threshold_close"] is None
