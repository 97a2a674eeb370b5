"""probes.failures: first failures classified against the exact construction.

Expected first failures are derived in closed form from the perturbed constructions'
parameters (ReLU with mismatched steps, LSTM with f = 1 - eps, the leaky GRU) on the
zigzag words, then compared with what `classify_failures` measures.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
from counting.datasets import ZIGZAG_J
from counting.generators import uniform_word, zigzag
from counting.metrics import evaluate
from counting.models import CELLS, init_model
from probes import CLASSES, classify_failures, summarize_classes, verdict
from probes.failures import classify, peak_since_zero

ZIGZAGS = [zigzag(j, 2000) for j in ZIGZAG_J]


def readout_threshold(model) -> float:
    """h* with out[1] > 0.5 iff h > h* (H = 1, positive readout weight)."""
    w, b = model.readout.weight[1, 0].item(), model.readout.bias[1].item()
    assert w > 0, "the derivations assume ')' is predicted for large h"
    return -b / w


def class_of(d: int, peak: int) -> str:
    """The rule for a ')' output wrongly off (d > 0) or wrongly on (d = 0)."""
    return "at-zero" if d == 0 else ("early" if 2 * d <= peak else "depth-dependent")


# ------------------------------------------------------------------ the rule itself
@pytest.mark.parametrize("out,d,peak,expected", [
    ((0.9, 0.9), 0, 10, "at-zero"),          # ')' allowed at depth 0
    ((0.9, 0.1), 5, 10, "early"),            # d = P/2 counts as early
    ((0.9, 0.1), 1, 10, "early"),
    ((0.9, 0.1), 6, 10, "depth-dependent"),
    ((0.9, 0.1), 10, 10, "depth-dependent"),  # still rising
    ((0.1, 0.9), 3, 10, "other"),            # only the '(' output is wrong
    ((0.1, 0.1), 0, 4, "other"),
    ((np.nan, np.nan), 3, 4, "other"),
])
def test_classify_rule(out, d, peak, expected):
    assert classify(np.array(out), d, peak) == expected


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 10**6), frac=st.floats(0, 1))
def test_peak_since_zero_by_brute_force(n, seed, frac):
    from counting.dyck import depth_profile
    depth = depth_profile(uniform_word(np.random.default_rng(seed), 2 * n))
    t = min(int(frac * depth.size), depth.size - 1)
    start = 0
    for k in range(t):
        if depth[k] == 0:
            start = k + 1
    assert peak_since_zero(depth, t) == max(depth[start : t + 1])


def test_summary_and_verdict():
    recs = [{"class": c} for c in ("early", "at-zero", "at-zero", "other")]
    s = summarize_classes(recs)
    assert s == {"early": 1, "at-zero": 2, "depth-dependent": 0, "other": 1}
    assert verdict(s) == "at-zero"
    assert verdict(summarize_classes([])) == "no failure"
    assert verdict({"early": 2, "at-zero": 2, "depth-dependent": 0, "other": 0}) == "early"
    assert list(s) == list(CLASSES)


# ------------------------------------------------------------ against the metrics
@pytest.mark.parametrize("cell", CELLS)
def test_positions_are_the_first_points_of_failure(cell):
    rng = np.random.default_rng(5)
    seqs = [uniform_word(rng, 2 * int(n)) for n in rng.integers(1, 200, 30)] + ZIGZAGS[:3]
    for seed in range(3):
        model = init_model(cell, 1, seed, torch.float64)
        recs = classify_failures(model, seqs, "mixed")
        fpfs = evaluate(model, seqs)["fpfs"]
        failing = {r["sequence"]: r["position"] for r in recs}
        for b, s in enumerate(seqs):
            assert failing.get(b, len(s)) == fpfs[b]
        for r in recs:
            assert r["set"] == "mixed" and r["class"] in CLASSES
            assert set(r) == {"set", "sequence", "position", "depth", "peak", "class"}


# ------------------------------------------------------- the exact constructions
@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_exact_constructions_never_fail(cell):
    model = constructions.exact_counter(cell, dtype=torch.float64)
    rng = np.random.default_rng(0)
    seqs = ZIGZAGS + [uniform_word(rng, 1000) for _ in range(5)]
    assert classify_failures(model, seqs) == []


# ------------------------------------------------------ ReLU with mismatched steps
@pytest.mark.parametrize("r", [0.993, 0.9937, 0.93])
def test_relu_smaller_decrement_fails_at_zero_at_a_completion_point(r):
    """up = 1, down = r < 1: h never clips and after k full zigzag periods h = k j (1 - r).
    The first failure is at the completion point 2jk - 1 of the first k with
    k j (1 - r) > h* (the ')' output still on at depth 0): at-zero, depth 0, peak j.
    (r is chosen so that no k j (1 - r) is within float rounding of h*.)"""
    model = constructions.mismatched_relu(up=1.0, down=r, dtype=torch.float64)
    h_star = readout_threshold(model)
    assert 0 < h_star < r  # depth >= 1 always reads as "')' may follow"
    recs = {x["sequence"]: x for x in classify_failures(model, ZIGZAGS)}
    n_expected = 0
    for b, j in enumerate(ZIGZAG_J):
        q = h_star / (j * (1 - r))
        assert abs(q - round(q)) > 1e-6, "a tie at the readout threshold: pick another r"
        k = math.floor(q) + 1  # smallest k with k j (1 - r) > h*
        if 2 * j * k > 2000:
            assert b not in recs
            continue
        n_expected += 1
        assert recs[b] == {"set": "zigzag", "sequence": b, "position": 2 * j * k - 1,
                           "depth": 0, "peak": j, "class": "at-zero"}
    assert n_expected == len(recs) > 0


@pytest.mark.parametrize("r", [1.013, 1.0517, 1.37])
def test_relu_larger_decrement_fails_early(r):
    """up = 1, down = r > 1: after the first j opens h = j, after m closes h = j - m r.
    The ')' output turns off at the first m >= (j - h*)/r; if that is before the period
    ends (m < j) the failure is at position j + m - 1, depth j - m (early when <= j/2);
    otherwise h is clipped back to exactly 0 and nothing ever fails."""
    model = constructions.mismatched_relu(up=1.0, down=r, dtype=torch.float64)
    h_star = readout_threshold(model)
    assert 0 < h_star < 1
    recs = {x["sequence"]: x for x in classify_failures(model, ZIGZAGS)}
    for b, j in enumerate(ZIGZAG_J):
        q = (j - h_star) / r
        assert abs(q - round(q)) > 1e-6, "a tie at the readout threshold: pick another r"
        m = math.ceil(q)
        if m >= j:
            assert b not in recs
            continue
        assert recs[b] == {"set": "zigzag", "sequence": b, "position": j + m - 1,
                           "depth": j - m, "peak": j, "class": class_of(j - m, j)}
    assert recs and all(x["class"] == "early" for x in recs.values())


# ------------------------------------------- leaky LSTM and GRU: first zigzag period
def first_period_failure(counter_after, says_close, j):
    """First failure within the first period of zigzag j from closed-form counters:
    counter_after(t) for t = 0..2j-1, says_close(counter) the ')' output."""
    for t in range(2 * j):
        d = t + 1 if t < j else 2 * j - t - 1
        if says_close(counter_after(t)) != (d > 0):
            return t, d
    return None


@pytest.mark.parametrize("eps", [1e-3, 1e-4])
def test_leaky_lstm_fails_early(eps):
    """f = 1 - eps, i = o = 1, g = +-1: c_t = (1 - f^(t+1))/(1 - f) while opening;
    after k closes c = f^k C - (1 - f^k)/(1 - f), C = c after j opens. The ')' output is
    on iff tanh(c) > h*. The counter leaks towards 0, so it reads zero too soon: early
    on short runs; when eps j is large the leak (a step that depends on c) makes it reach
    zero before half the run is closed: depth-dependent."""
    model = constructions.leaky_counter("lstm", eps, dtype=torch.float64)
    h_star = readout_threshold(model)
    f = 1 - eps

    recs = {x["sequence"]: x for x in classify_failures(model, ZIGZAGS)}
    classes = []
    for b, j in enumerate(ZIGZAG_J):
        C = (1 - f**j) / (1 - f)

        def c_after(t, j=j, C=C):
            if t < j:
                return (1 - f ** (t + 1)) / (1 - f)
            k = t - j + 1
            return f**k * C - (1 - f**k) / (1 - f)

        exp = first_period_failure(c_after, lambda c: math.tanh(c) > h_star, j)
        if exp is None:
            continue
        t, d = exp
        assert abs(recs[b]["position"] - t) <= 1  # closed form vs float rounding at a tie
        assert recs[b]["peak"] == j and recs[b]["class"] == class_of(d, j)
        classes.append(class_of(d, j))
    assert classes.count("early") >= 3


def test_leaky_gru_collapses_depth_dependently_on_long_runs():
    """z = 1 - eps, n = +-1: opening h_t = 1 - z^(t+1); after k closes
    h = -1 + z^k (1 + h_j). The ')' output is on iff h > h*. The closing run brings h
    to h* after k* ~ ln((1 + h_j)/(1 + h*)) / eps closes whatever j is, so short zigzags
    fail early and long ones (j > 2 k*) depth-dependently."""
    eps = 0.01
    model = constructions.leaky_counter("gru", eps, dtype=torch.float64)
    h_star = readout_threshold(model)
    z = 1 - eps
    recs = {x["sequence"]: x for x in classify_failures(model, ZIGZAGS)}
    classes = set()
    for b, j in enumerate(ZIGZAG_J):
        hj = 1 - z**j

        def h_after(t, j=j, hj=hj):
            return 1 - z ** (t + 1) if t < j else -1 + z ** (t - j + 1) * (1 + hj)

        exp = first_period_failure(h_after, lambda h: h > h_star, j)
        if exp is None:  # no failure in the first period (a later one may fail)
            continue
        t, d = exp
        assert abs(recs[b]["position"] - t) <= 1
        assert recs[b]["class"] == class_of(d, j)
        classes.add(class_of(d, j))
    assert "depth-dependent" in classes
