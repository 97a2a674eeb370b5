"""Derived first failures (closed forms over runs) against brute-force iteration and against
the measured first failure of the perturbed models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
from constructions import AffineCounter, nested_failure_depth, nested_first_failure
from constructions import predicted_first_failure as predict
from constructions.conditions import affine_counter
from counting.datasets import ZIGZAG_J
from counting.dyck import depth_profile, one_hot, targets, tokens
from counting.generators import nested, uniform_word, zigzag
from counting.metrics import first_point_of_failure, token_correct
from counting.models import pad_batch

ZIGZAGS = [zigzag(j, 2000) for j in ZIGZAG_J]


def brute_trajectory(c: AffineCounter, seq: str) -> np.ndarray:
    """u after every token, one clipped affine step at a time (no closed forms)."""
    u, out = c.u0, []
    for k in tokens(seq).tolist():
        a, b = (c.a_open, c.b_open) if k == 0 else (c.a_close, c.b_close)
        u = min(max(a * u + b, c.lo), c.hi)
        out.append(u)
    return np.array(out)


def brute_first_failure(c: AffineCounter, seq: str):
    """-> (first wrong index or None, trajectory, thresholds per token)."""
    u = brute_trajectory(c, seq)
    tok = tokens(seq)
    theta = np.where(tok == 0, c.theta_open, c.theta_close)
    on = c.sign * (u - theta) > 0
    wrong = np.flatnonzero(on != (depth_profile(seq) > 0))
    return (int(wrong[0]) if wrong.size else None), u, theta


@torch.no_grad()
def measured_many(model, seqs: list[str]) -> list:
    """First wrong token of the real model (both outputs; None if all right) on each word,
    run as one right-padded batch (one shape: oneDNN compiles one kernel per shape)."""
    x, lengths = pad_batch(seqs, model.dtype)
    p = model(x).double().numpy()
    out = []
    for b, s in enumerate(seqs):
        f = first_point_of_failure(token_correct(p[b, : lengths[b]], targets(s)))
        out.append(None if f == len(s) else f)
    return out


def measured(model, seq: str):
    return measured_many(model, [seq])[0]


def assert_no_tie(c: AffineCounter, seq: str, upto, rel=1e-9):
    """The counter is never within float rounding of the threshold up to the failure, so the
    real model's float arithmetic cannot decide differently from the closed form."""
    _, u, theta = brute_first_failure(c, seq)
    n = len(seq) if upto is None else upto + 1
    gap = np.abs(u[:n] - theta[:n]) / np.maximum(1.0, np.abs(u[:n]))
    assert gap.min() > rel, "a tie at the readout threshold: pick other parameters"


# ------------------------------------------------------------ closed forms vs iteration
@settings(max_examples=200, deadline=None)
@given(a=st.floats(0.0, 1.2), b=st.floats(-2.0, 2.0), x0=st.floats(0.0, 50.0),
       m=st.integers(1, 300), clip=st.booleans())
def test_run_closed_form_matches_iteration(a, b, x0, m, clip):
    c = AffineCounter(a, b, a, b, 0.5, 0.5, 1.0, 0.0 if clip else -math.inf,
                      40.0 if clip else math.inf)
    x0 = min(x0, c.hi)  # a state is always inside [lo, hi]
    u, ref = x0, []
    for _ in range(m):
        u = c.step(0, u)
        ref.append(u)
    got = c.run_values(0, x0, np.arange(1, m + 1))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(a=st.floats(0.9, 1.05), up=st.floats(0.5, 1.5), down=st.floats(0.5, 1.5),
       theta=st.floats(0.05, 0.95), relu=st.booleans(), seed=st.integers(0, 10**6),
       n=st.integers(1, 150))
def test_predicted_first_failure_matches_brute_force(a, up, down, theta, relu, seed, n):
    c = AffineCounter(a, up, a, -down, theta * up, theta * up, 1.0,
                      0.0 if relu else -math.inf)
    seq = uniform_word(np.random.default_rng(seed), 2 * n)
    want, u, th = brute_first_failure(c, seq)
    got = predict(c, seq)
    if got != want:  # only a float tie at the threshold may separate the two
        t = min(x for x in (got, want) if x is not None)
        assert abs(u[t] - th[t]) < 1e-9 * max(1.0, abs(u[t]))


def test_run_closed_form_survives_overflow():
    """a > 1 for thousands of steps: a^m overflows; at the fixed point b / (1 - a) the state
    stays put, elsewhere it runs off to +-inf (never nan)."""
    c = AffineCounter(1.5, 0.0, 1.5, -1.0, 0.5, 0.5)
    m = np.array([1, 10, 5000])
    assert c.run_values(1, 2.0, m).tolist() == [2.0, 2.0, 2.0]
    assert c.run_values(1, 2.5, m)[-1] == np.inf and c.run_values(1, 1.5, m)[-1] == -np.inf
    assert c.run_values(0, 0.0, m).tolist() == [0.0, 0.0, 0.0]


def test_counter_values_match_iteration():
    c = AffineCounter.leaky(0.01)
    s = uniform_word(np.random.default_rng(5), 3000)
    pos = np.array([-1, 0, 1, 17, 999, 2998, 2999])
    ref = np.concatenate([[0.0], brute_trajectory(c, s)])[pos + 1]
    np.testing.assert_allclose(constructions.counter_values(c, s, pos), ref, rtol=1e-10,
                               atol=1e-12)


def test_negative_recurrent_weight_is_iterated():
    c = AffineCounter.relu(1.0, 1.0, -0.5)
    seqs = [uniform_word(np.random.default_rng(k), 200) for k in range(5)] + ZIGZAGS[:3]
    for s in seqs:
        assert predict(c, s) == brute_first_failure(c, s)[0]
    model = constructions.mismatched_relu(w_hh=-0.5)
    for s in seqs:
        assert predict(model, s) == measured(model, s)


def test_bad_inputs():
    with pytest.raises(ValueError, match="negative"):
        predict(AffineCounter.exact(), "())(")
    with pytest.raises(TypeError, match="AffineCounter"):
        predict("lstm", "()")
    with pytest.raises(ValueError, match="nesting depth"):
        nested_first_failure(AffineCounter.exact(), -1)


# --------------------------------------------------------- the float limit of exact counters
def test_float32_limit_derivation():
    c = AffineCounter.exact(torch.float32)
    p = 2**24
    assert constructions.float_limit(torch.float32) == p
    assert constructions.float_limit(torch.float64) == 2**53
    for D in (p - 1, p):
        assert nested_first_failure(c, D) is None
    for k in (1, 2, 3, 1000):
        assert nested_first_failure(c, p + k) == p + k + p - 1
    assert nested_failure_depth(c) == p + 1
    assert nested_failure_depth(AffineCounter.exact()) is None  # real arithmetic


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@torch.no_grad()
def test_float32_counter_sticks_at_2_to_the_24_in_the_real_layer(cell):
    """The premise of the derivation, in the model's own kernel: from 2^24 - 2, '(' gives
    2^24 - 1, 2^24, then 2^24 again (2^24 + 1 rounds to even); ')' then counts down exactly."""
    model = constructions.exact_counter(cell, torch.float32)
    p = 2.0**24
    seq = "(((((" + ")))"
    x = torch.as_tensor(one_hot(seq), dtype=torch.float32).reshape(1, -1, 2)
    start = torch.full((1, 1, 1), p - 2)
    states = []
    h = start if cell == "relu" else torch.ones(1, 1, 1)
    c = start
    for t in range(len(seq)):
        if cell == "relu":
            _, h = model.rnn(x[:, t : t + 1], h)
            states.append(h.item())
        else:
            _, (h, c) = model.rnn(x[:, t : t + 1], (h, c))
            states.append(c.item())
    assert states == [p - 1, p, p, p, p, p - 1, p - 2, p - 3]
    assert constructions.nested_failure_depth(model) == 2**24 + 1


def test_float64_models_predict_their_float_limit():
    for cell in ("lstm", "relu"):
        model = constructions.exact_counter(cell, torch.float64)
        assert nested_failure_depth(model) == 2**53 + 1
        assert all(predict(model, s) is None for s in ZIGZAGS)


# ------------------------------------------------ perturbed families: derived == measured
@pytest.mark.parametrize("cell,eps,dtype", [
    ("lstm", 1e-2, torch.float64), ("lstm", 3e-3, torch.float64),
    ("lstm", 1e-4, torch.float64), ("lstm", 1e-3, torch.float32),
    ("gru", 1e-2, torch.float64), ("gru", 2e-3, torch.float64),
    ("gru", 3e-4, torch.float64), ("gru", 1e-3, torch.float32),
])
def test_leaky_first_failure_is_the_derived_one(cell, eps, dtype):
    """Derived from the family parameters only (u' = (1 - eps) u +- 1, threshold 1/2)."""
    fam = AffineCounter.leaky(eps)
    model = constructions.leaky_counter(cell, eps, dtype)
    from_model = affine_counter(model)  # the same counter read off the model's weights
    D = nested_failure_depth(fam)
    assert D is not None and D > 1
    seqs = [nested(D - 1), nested(D), nested(D + 5)] + ZIGZAGS
    got = measured_many(model, seqs)
    for seq, g in zip(seqs, got):
        want = predict(fam, seq)
        assert_no_tie(fam, seq, want, rel=1e-9 if dtype == torch.float64 else 1e-4)
        assert g == want
        assert predict(from_model, seq) == want
    assert got[0] is None and got[1] is not None


@pytest.mark.parametrize("up,down,w_hh", [
    (1.0, 1.13, 1.0), (1.0, 0.97, 1.0), (1.0, 0.9937, 1.0), (0.7, 0.76, 1.0),
    (1.0, 1.0, 0.995), (1.0, 1.0, 1.003), (2.0, 2.0, 0.99), (1.0, 1.02, 0.999),
])
def test_mismatched_relu_first_failure_is_the_derived_one(up, down, w_hh):
    fam = AffineCounter.relu(up, down, w_hh)
    model = constructions.mismatched_relu(up, down, w_hh)
    from_model = affine_counter(model)
    rng = np.random.default_rng(11)
    seqs = ZIGZAGS + [uniform_word(rng, 3000) for _ in range(3)]
    D = nested_failure_depth(fam)
    if D is not None:
        seqs += [nested(D - 1), nested(D)]
    got = measured_many(model, seqs)
    for seq, g in zip(seqs, got):
        want = predict(fam, seq)
        assert_no_tie(fam, seq, want)
        assert g == want
        assert predict(from_model, seq) == want
    if D is not None:
        assert got[-2] is None and got[-1] is not None


@pytest.mark.parametrize("eps", [1e-2, 1e-3, 1e-4, 1e-5])
def test_leaky_depth_is_sqrt_of_half_over_eps_to_first_order(eps):
    """The counter at depth 1 after D opens and D - 1 closes is 1 - eps (D^2 - 1) + O(eps^2)
    (`conditions.drift_closed_forms`), so failure starts near eps (D^2 - 1) = 1/2; the
    second-order term only moves D by a relative O(sqrt(eps))."""
    D = nested_failure_depth(AffineCounter.leaky(eps))
    first_order = math.sqrt(0.5 / eps + 1)
    assert abs(D - first_order) / first_order < 3 * math.sqrt(eps) + 1 / first_order
