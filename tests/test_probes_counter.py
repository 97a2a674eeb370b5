"""probes.counter and probes.saturation on hand-built counters with known parameters.

The counters are built here by setting CounterRNN weights by hand (independent of the
`constructions` package); every expected value is derived in closed form from the
parameters, in the docstring of the test that uses it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from counting.dyck import depth_profile, tokens
from counting.generators import nested, uniform_word, zigzag
from counting.models import CounterRNN
from probes import drift, drift_summary, gate_stats, saturation, step_summary, trace, trace_batch
from probes.counter import drift_slopes

BIG = 50.0  # sigmoid(50) == 1.0 and tanh(25) == 1.0 exactly in float64 (and float32)


def set_weights(model, w_ih, w_hh, b_ih, w_out=((0.0,), (10.0,)), b_out=(10.0, -5.0)):
    with torch.no_grad():
        for p, v in ((model.rnn.weight_ih_l0, w_ih), (model.rnn.weight_hh_l0, w_hh),
                     (model.rnn.bias_ih_l0, b_ih), (model.readout.weight, w_out),
                     (model.readout.bias, b_out)):
            p.copy_(torch.tensor(v, dtype=torch.float64))
        model.rnn.bias_hh_l0.zero_()
    return model.eval()


def relu_counter(up=1.0, down=1.0, w_hh=1.0):
    """h' = relu(w_hh h + up) on '(' and relu(w_hh h - down) on ')'."""
    return set_weights(CounterRNN("relu", 1, torch.float64), [[up, -down]], [[w_hh]], [0.0])


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def lstm_counter(f_logit=BIG):
    """i = o = 1, g = +-1 exactly; f = sigmoid(f_logit) (1.0 for the default)."""
    return set_weights(CounterRNN("lstm", 1, torch.float64),
                       [[0, 0], [0, 0], [BIG / 2, -BIG / 2], [0, 0]], [[0]] * 4,
                       [BIG, f_logit, 0.0, BIG])


def gru_counter(eps):
    """r = 1, z = 1 - eps (as rounded by sigmoid), n = +-1: h' = z h + (1 - z) n."""
    return set_weights(CounterRNN("gru", 1, torch.float64),
                       [[0, 0], [0, 0], [BIG / 2, -BIG / 2]], [[0]] * 3,
                       [BIG, logit(1 - eps), 0.0])


def probe_words(seed=0):
    rng = np.random.default_rng(seed)
    randoms = [uniform_word(rng, 300) for _ in range(4)]
    return [zigzag(10, 200), zigzag(37, 296), nested(60), *randoms]


@settings(max_examples=20, deadline=None)
@given(up=st.floats(0.25, 4.0), r=st.floats(0.8, 1.0))
def test_relu_steps_ratio_and_drift_equal_the_parameters(up, r):
    """With down = r * up <= up the ReLU never clips: h_t = up * opens - down * closes, so
    every Δ+ = up, every Δ- = -down, ratio = r, and drift(t) = h/up - depth = (1 - r) *
    closes(t); its per-token slope through the origin is (1 - r) Σ (t+1) closes / Σ (t+1)²."""
    down = r * up
    seqs = probe_words()
    tr = trace_batch(relu_counter(up, down), seqs)
    s = step_summary([tr])
    assert s["unit_step"] == pytest.approx(up, rel=1e-9)
    assert s["increment"] == pytest.approx(up, rel=1e-9)
    assert s["decrement"] == pytest.approx(-down, rel=1e-9)
    assert s["ratio"] == pytest.approx(r, rel=1e-9)
    bd = s["by_depth"]
    n_open = np.array(bd["n_open"])
    inc = np.array(bd["increment"])[n_open > 0]
    np.testing.assert_allclose(inc, up, rtol=1e-9)
    n_close = np.array(bd["n_close"])
    np.testing.assert_allclose(np.array(bd["decrement"])[n_close > 0], -down, rtol=1e-9)
    for b, seq in enumerate(seqs):
        closes = np.cumsum(tokens(seq)).astype(float)
        expected = (1 - r) * closes
        got = tr.sequence(b)
        np.testing.assert_allclose(drift(got, s["unit_step"]), expected, atol=1e-9 * len(seq))
        t1 = np.arange(1, len(seq) + 1)
        slope = (1 - r) * np.sum(t1 * closes) / np.sum(t1 * t1)
        assert drift_slopes(got, s["unit_step"])[0] == pytest.approx(slope, rel=1e-6, abs=1e-12)


def test_exact_lstm_counts_with_zero_drift_and_saturated_gates():
    """f = i = o = 1.0 and g = +-1.0 exactly: c_t = depth_t exactly, unit 1, ratio 1."""
    seqs = probe_words(1)
    tr = trace_batch(lstm_counter(), seqs)
    assert np.array_equal(tr.counter[tr.mask], tr.depth[tr.mask].astype(float))
    s = step_summary([tr])
    assert (s["unit_step"], s["decrement"], s["ratio"]) == (1.0, -1.0, 1.0)
    d = drift_summary(tr, s["unit_step"])
    assert d == {"per_token": 0.0, "final": 0.0, "max_abs": 0.0}
    sat = saturation([tr])
    assert set(sat) == {"i", "f", "g", "o"}
    for gate, stats in sat.items():
        assert stats["share_saturated"] == 1.0, gate
        assert stats["distance_median"] == 0.0 and stats["distance_ulp_median"] == 0.0


@pytest.mark.parametrize("eps", [1e-2, 1e-3])
def test_leaky_lstm_steps_follow_the_closed_form(eps):
    """With i = 1, g = +-1 and a constant f < 1: c' = f c + g. On nested(D) the depth-d
    opening step is Δ+(d) = f^d; after the D opens c = C = (1 - f^D)/(1 - f), after k
    closes c_k = f^k C - (1 - f^k)/(1 - f), and the close at depth D - k steps by
    Δ- = (f - 1) c_k - 1. f is read from the trace (sigmoid's rounding of 1 - eps)."""
    D = 80
    tr = trace(lstm_counter(logit(1 - eps)), nested(D))
    f = float(tr.f[0, 0])
    assert np.all(tr.f == f) and f == pytest.approx(1 - eps, rel=1e-12)
    bd = step_summary([tr])["by_depth"]
    d = np.arange(D)
    np.testing.assert_allclose(np.array(bd["increment"])[:D], f**d, rtol=1e-12)
    C = (1 - f**D) / (1 - f)
    k = np.arange(D)
    c_k = f**k * C - (1 - f**k) / (1 - f)
    dec = np.array(bd["decrement"])
    np.testing.assert_allclose(dec[D - k], (f - 1) * c_k - 1, rtol=1e-12)
    # unit = median f^d over d = 0..10; decrement = median step at depths 1..10 (k = D-10..D-1)
    s = step_summary([tr])
    assert s["unit_step"] == pytest.approx(f**5, rel=1e-12)
    low = (f - 1) * c_k[D - 10 :] - 1
    assert s["ratio"] == pytest.approx(-np.median(low) / f**5, rel=1e-12)


@pytest.mark.parametrize("eps", [0.05, 0.01])
def test_leaky_gru_steps_shrink_with_the_counter(eps):
    """z = 1 - eps, n = +-1: h' = z h + (1 - z) n. On nested(D) h_d = 1 - z^d, so the
    opening step at depth d is (1 - z) z^d and the unit step is (1 - z)(median z^d, d <= 10)."""
    D = 40
    tr = trace(gru_counter(eps), nested(D))
    z = float(tr.z[0, 0])
    assert np.all(tr.z == z) and np.all(tr.r == 1.0) and np.all(np.abs(tr.n) == 1.0)
    s = step_summary([tr])
    d = np.arange(D)
    np.testing.assert_allclose(np.array(s["by_depth"]["increment"])[:D], (1 - z) * z**d,
                               rtol=1e-10)
    assert s["unit_step"] == pytest.approx((1 - z) * np.median(z ** np.arange(11)), rel=1e-10)
    sat = saturation([tr])
    assert sat["z"]["share_saturated"] == 0.0 and sat["z"]["mean"] == pytest.approx(z)
    assert sat["r"]["share_saturated"] == 1.0 and sat["n"]["share_saturated"] == 1.0


def test_dead_counter_has_no_unit_step():
    tr = trace_batch(relu_counter(0.0, 0.0), probe_words())
    s = step_summary([tr])
    assert s["increment"] == 0.0 and math.isnan(s["unit_step"]) and math.isnan(s["ratio"])
    assert all(math.isnan(v) for v in drift_summary(tr, s["unit_step"]).values())


def test_steps_use_the_depth_before_each_token():
    """On '(()' the steps are taken at depths before 0, 1, 2 - the first step from h0 = 0."""
    tr = trace(relu_counter(2.0, 0.5), "(()")
    s = step_summary([tr])
    assert s["by_depth"]["n_open"] == [1, 1, 0]
    assert s["by_depth"]["n_close"] == [0, 0, 1]
    assert s["by_depth"]["decrement"][2] == -0.5
    np.testing.assert_array_equal(depth_profile("(()"), tr.depth)


def test_gate_stats_by_hand():
    v = np.array([1.0, 1.0, 0.5, -1.0, 0.0, 1 - 2.0**-53])
    s = gate_stats(v, "float64")
    assert s["share_saturated"] == pytest.approx(3 / 6)
    assert s["share_zero"] == pytest.approx(1 / 6)
    assert (s["min"], s["max"]) == (-1.0, 1.0)
    assert s["distance_min"] == 0.0
    # distances sorted: 0, 0, 0, 2^-53, 0.5, 1 -> median (0 + 2^-53) / 2
    assert s["distance_median"] == 2.0**-54
    assert s["distance_ulp_median"] == 0.5
    assert gate_stats(np.array([1 - 2.0**-24]), "float32")["distance_ulp_median"] == 1.0
    assert all(math.isnan(x) for x in gate_stats(np.zeros(0)).values())
