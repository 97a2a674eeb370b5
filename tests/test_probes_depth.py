"""The linear depth probe (probes.linear_probe) and the measurements along its direction.

Planted counters are built here by hand: a ReLU with W_hh = I whose unit k steps by +a_k on
'(' and -r a_k on ')' (biases 0), so h = a * depth exactly in real arithmetic when r = 1.
The least-squares fit of the depth on h then has R^2 = 1 and minimum-norm weights
w = a / |a|^2 (parallel to a), the projected counter w . h is the depth, and along it the
step ratio is r - the same as the hidden-size-1 `mismatched_relu(down=r)`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import constructions
import probes
from counting.models import CounterRNN, init_model
from probes import DepthProbe, depth_probe, diagnose, fit_depth_probe, text_summary, trace_batch
from probes.linear_probe import ONE_UNIT_SHARE, depth_probe_text, units_holding
from probes.tracing import Trace

L = 5.0  # readout logit margin
A = (0.7, 1.3, 0.2)  # the planted steps a_k (not powers of two: h = a * depth is rounded)

# the report's keys for hidden size 1 before the depth probe existed (probes/report.py);
# a branch that adds a report key adds it here too
H1_KEYS = {"cell", "hidden_size", "dtype", "counter_unit", "sets", "unit_step", "increment",
           "decrement", "ratio", "by_depth", "drift_per_token", "drift", "saturation",
           "distance_from_ideal", "failures", "failures_on_open", "summary", "summary_by_set",
           "verdict", "evidence", "verdict_text"}


def small_sets():
    sets = probes.default_probe_sets()
    return {"zigzag": sets["zigzag"][:6], "nested": sets["nested"][:4],
            "very_long": sets["very_long"][:3]}


def planted_relu(a=A, r: float = 1.0) -> CounterRNN:
    """h_k' = relu(h_k + a_k) on '(' and relu(h_k - r a_k) on ')'; the ')'-output reads the
    projection a . h / |a|^2 (= depth when r = 1) with threshold 1/2."""
    a = np.asarray(a, dtype=np.float64)
    H = a.size
    model = CounterRNN("relu", H, torch.float64)
    w_out = np.zeros((2, H))
    w_out[1] = 2 * L * a / (a @ a)
    with torch.no_grad():
        model.rnn.weight_ih_l0.copy_(torch.tensor(np.stack([a, -r * a], axis=1)))
        model.rnn.weight_hh_l0.copy_(torch.eye(H, dtype=torch.float64))
        model.rnn.bias_ih_l0.zero_()
        model.rnn.bias_hh_l0.zero_()
        model.readout.weight.copy_(torch.tensor(w_out))
        model.readout.bias.copy_(torch.tensor([L, -L]))
    return model.eval()


def cosine(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


# ------------------------------------------------------------------ the fit itself
def test_planted_spread_counter_is_recovered():
    """R^2 = 1 and u parallel to a, within 1e-12, on the full default probe sets."""
    model = planted_relu()
    tb = trace_batch(model, ["(((())))"])
    assert np.allclose(tb.h[0], np.outer([1, 2, 3, 4, 3, 2, 1, 0], A), rtol=0, atol=1e-15)
    dp = depth_probe(model)
    a = np.asarray(A)
    assert abs(dp.r2 - 1.0) <= 1e-12
    assert abs(cosine(dp.direction, a) - 1.0) <= 1e-12
    assert np.allclose(dp.weights, a / (a @ a), rtol=1e-12, atol=0)  # the minimum-norm w
    assert abs(dp.intercept) <= 1e-9
    np.testing.assert_allclose(dp.unit_share, a * a / (a @ a), rtol=1e-12)
    assert np.linalg.norm(dp.direction) == pytest.approx(1.0, abs=1e-15)
    res = dp.residual_by_depth
    assert res["depth"][:3] == [0, 1, 2] and res["depth"][-1] == 1000
    assert max(map(abs, res["mean"])) <= 1e-9 and max(res["rms"]) <= 1e-9
    total = sum(len(s) for seqs in probes.default_probe_sets().values() for s in seqs)
    assert sum(res["n"]) == dp.n_tokens == total
    # shares a_k^2 / |a|^2 = 0.22, 0.76, 0.02: units 1 and 0 hold >= 90%
    assert dp.spread_units == [1, 0] and dp.in_one_unit is False and dp.dominant_unit == 1


def test_fit_equals_an_independent_least_squares_with_intercept():
    """Noisy synthetic states: weights, intercept and R^2 equal the normal-equation solution
    of [x 1] b = d, and residual_by_depth equals a direct loop over depths."""
    rng = np.random.default_rng(3)
    depth = np.concatenate([np.arange(40), np.arange(40, 0, -1), rng.integers(0, 30, 200)])
    T = depth.size
    x = np.stack([0.3 * depth + 2.0 + rng.normal(0, 0.5, T), rng.normal(0, 1, T),
                  -0.1 * depth + rng.normal(0, 0.2, T)], axis=1)
    tr = Trace("relu", {"h": x, "depth": depth, "token": np.zeros(T, np.int8)},
               np.array([T]), batched=False, unit=0)
    dp = fit_depth_probe([tr])
    design = np.column_stack([x, np.ones(T)])
    coef = np.linalg.solve(design.T @ design, design.T @ depth)
    np.testing.assert_allclose(dp.weights, coef[:3], rtol=1e-10)
    assert dp.intercept == pytest.approx(coef[3], rel=1e-10)
    pred = design @ coef
    r2 = 1 - np.sum((depth - pred) ** 2) / np.sum((depth - depth.mean()) ** 2)
    assert dp.r2 == pytest.approx(r2, rel=1e-12) and 0 < dp.r2 < 1
    res = dp.residual_by_depth
    for k, d in enumerate(res["depth"]):
        e = pred[depth == d] - d
        assert res["n"][k] == e.size
        assert res["mean"][k] == pytest.approx(e.mean(), abs=1e-9)
        assert res["rms"][k] == pytest.approx(math.sqrt(np.mean(e * e)), abs=1e-9)
    assert sorted(res["depth"]) == sorted(set(depth.tolist()))


def test_an_offset_counter_is_fitted_by_the_intercept():
    """h = 2 depth + 3: w = 1/2, intercept -3/2, R^2 = 1 (a fit through the origin would not
    be exact)."""
    depth = np.array([1, 2, 3, 2, 1, 0, 1, 0])
    tr = Trace("gru", {"h": (2.0 * depth + 3.0)[:, None], "depth": depth,
                       "token": np.zeros(8, np.int8)}, np.array([8]), False, unit=0)
    dp = fit_depth_probe([tr])
    assert dp.weights[0] == pytest.approx(0.5, rel=1e-14)
    assert dp.intercept == pytest.approx(-1.5, rel=1e-14) and dp.r2 == pytest.approx(1.0)
    assert dp.direction.tolist() == [1.0] and dp.unit_share.tolist() == [1.0]


def test_a_counter_that_falls_with_depth_has_a_negative_direction():
    depth = np.array([1, 2, 1, 0, 1, 0])
    tr = Trace("relu", {"h": (-0.25 * depth)[:, None], "depth": depth,
                        "token": np.zeros(6, np.int8)}, np.array([6]), False, unit=0)
    dp = fit_depth_probe([tr])
    assert dp.direction.tolist() == [-1.0] and dp.weights[0] == pytest.approx(-4.0)


def test_a_dead_model_has_an_undefined_probe():
    model = init_model("lstm", 3, 0, torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    dp = depth_probe(model, small_sets())
    assert not dp.defined and math.isnan(dp.r2)
    assert np.isnan(dp.direction).all() and np.isnan(dp.unit_share).all()
    assert dp.dominant_unit is None and dp.in_one_unit is None and dp.spread_units == []
    rep = diagnose(model, small_sets())
    assert rep["depth_probe"] == {"r2": None, "direction": [None] * 3,
                                  "unit_share": [None] * 3}
    json.dumps(rep, allow_nan=False)
    assert "depth probe: undefined" in text_summary(rep)


def test_bad_input():
    with pytest.raises(ValueError, match="at least one trace"):
        fit_depth_probe([])
    with pytest.raises(ValueError, match="non-empty dict"):
        depth_probe(planted_relu(), {})
    tr = trace_batch(planted_relu(), ["(())"])
    with pytest.raises(ValueError, match="3 finite numbers"):
        tr.along([1.0, 2.0])
    with pytest.raises(ValueError, match="3 finite numbers"):
        tr.along([1.0, np.nan, 0.0])


# ------------------------------------------------------------- the projected counter
def test_trace_along_projects_the_counter_and_keeps_it_per_sequence():
    model = init_model("lstm", 3, 2, torch.float64)
    tb = trace_batch(model, ["(())", "((()))()"])
    w = np.array([0.5, -2.0, 1.5])
    pt = tb.along(w)
    assert pt.arrays is tb.arrays and pt.unit == 1  # the unit of largest |w|
    assert np.array_equal(pt.counter, tb.c @ w, equal_nan=True)
    one = pt.sequence(1)
    assert np.array_equal(one.projection, w) and one.unit == 1
    assert np.array_equal(one.counter, tb.c[1] @ w)
    assert tb.along(w, unit=2).unit == 2
    assert tb.projection is None and np.array_equal(tb.counter, tb.c[..., tb.unit],
                                                    equal_nan=True)


@pytest.mark.parametrize("r,verdict", [(1.0, "no failure"), (0.9712345, "at-zero"),
                                       (1.0612345, "early")])
def test_steps_and_drift_are_measured_along_u(r, verdict):
    """The planted 3-unit counter with decrements r a_k reads, along u, like the
    hidden-size-1 ReLU with decrement r: ratio r, the same drift per token and the same
    failures (and for r = 1 a unit step of 1: the projection is in depth units). r is
    chosen so that no readout lands within rounding of its threshold."""
    sets = small_sets()
    rep = diagnose(planted_relu(r=r), sets)
    one = diagnose(constructions.mismatched_relu(down=r), sets)
    assert rep["ratio"] == pytest.approx(r, rel=1e-12)
    assert rep["ratio"] == pytest.approx(one["ratio"], rel=1e-12)
    assert rep["verdict"] == one["verdict"] == verdict
    assert rep["summary"] == one["summary"] and rep["failures"] == one["failures"]
    if r == 1.0:
        assert rep["unit_step"] == pytest.approx(1.0, rel=1e-12)
        assert abs(rep["drift_per_token"]) <= 1e-12
        assert rep["depth_probe"]["r2"] == pytest.approx(1.0, abs=1e-12)
    else:
        ratio = rep["drift_per_token"] / one["drift_per_token"]
        assert ratio == pytest.approx(1.0, rel=1e-6)
    assert rep["counter_unit"] == 1  # a_1 = 1.3 is the largest step


def test_report_entry_and_text_for_a_spread_and_a_single_unit_count():
    rep = diagnose(planted_relu(), small_sets())
    dp = rep["depth_probe"]
    assert set(dp) == {"r2", "direction", "unit_share"}
    a = np.asarray(A)
    assert abs(cosine(dp["direction"], a) - 1) <= 1e-12
    assert sum(dp["unit_share"]) == pytest.approx(1.0, abs=1e-15)
    text = text_summary(rep)
    assert "spread over 2 units: unit 1 76.1%, unit 0 22.1%" in text
    assert "one unit: >= 90.0%" in text
    rep = diagnose(constructions.exact_counter("lstm", hidden_size=4), small_sets())
    assert rep["depth_probe"]["unit_share"] == [1.0, 0.0, 0.0, 0.0]
    assert rep["depth_probe"]["direction"] == [1.0, 0.0, 0.0, 0.0]
    assert rep["verdict"] == "no failure" and rep["counter_unit"] == 0
    assert rep["ratio"] == pytest.approx(1.0, rel=1e-12)
    assert abs(rep["drift_per_token"]) <= 1e-12
    assert "the count lives in one unit: unit 0 100.0%" in text_summary(rep)


def test_units_holding_and_the_threshold():
    assert units_holding([0.05, ONE_UNIT_SHARE, 0.05]) == [1]
    assert units_holding([0.5, 0.1, 0.4]) == [0, 2]
    assert units_holding([0.3, 0.3, 0.3, 0.1]) == [0, 1, 2]
    text = depth_probe_text({"r2": 0.3, "direction": [0.6, 0.8], "unit_share": [0.36, 0.64]},
                            2, "c")
    assert "below 0.5: a weak linear count" in text and "spread over 2 units" in text


# ------------------------------------------------------------------ hidden size 1
@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_hidden_size_one_report_adds_only_the_depth_probe(cell):
    model = constructions.mismatched_relu(down=0.99) if cell == "relu" else \
        constructions.leaky_counter("lstm", 1e-3)
    rep = diagnose(model, small_sets())
    assert set(rep) == H1_KEYS | {"depth_probe", "worst_case"}
    dp = rep["depth_probe"]
    assert dp["direction"] == [1.0] and dp["unit_share"] == [1.0] and 0 < dp["r2"] <= 1
    probe = depth_probe(model, small_sets())
    assert isinstance(probe, DepthProbe) and probe.r2 == dp["r2"]
    # the counter is still the raw state of unit 0, as before the probe existed
    sets = small_sets()
    raw = probes.step_summary([trace_batch(model, seqs) for seqs in sets.values()])
    for key in ("unit_step", "increment", "decrement", "ratio"):
        assert rep[key] == raw[key], key
    assert text_summary(rep).splitlines()[1].endswith("hidden size 1: one unit")


# ------------------------------------------------------- a trained hidden-size-2 model
@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
def test_cli_diagnose_of_a_trained_hidden_size_two_model(cell, tmp_path, capsys):
    """Two reference-engine epochs on the smoke data; the report's depth probe equals a refit
    on the same probe sets, and its steps are those of the projected counter."""
    from counting.checkpoint import load_checkpoint
    from counting.cli import main
    from probes.probesets import load_probe_sets

    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "diag"
    assert main(["data", "--out", str(data), "--profile", "smoke"]) == 0
    assert main(["train", "--cell", cell, "--data", str(data), "--out", str(run), "--epochs",
                 "2", "--engine", "reference", "--hidden-size", "2", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(run / "best.pt"), "--data", str(data), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rep = json.loads((out / "diagnosis.json").read_text())
    assert rep["hidden_size"] == 2 and H1_KEYS | {"depth_probe"} <= set(rep)
    dp = rep["depth_probe"]
    assert set(dp) == {"r2", "direction", "unit_share"}
    assert 0.0 <= dp["r2"] <= 1.0
    u, share = np.asarray(dp["direction"]), np.asarray(dp["unit_share"])
    assert u.shape == share.shape == (2,) and np.linalg.norm(u) == pytest.approx(1, abs=1e-14)
    np.testing.assert_allclose(share, u * u, rtol=1e-15)
    assert rep["counter_unit"] == int(np.argmax(share))
    assert "depth probe: R²" in text and ("lives in one unit" in text or "spread over" in text)
    model, _ = load_checkpoint(run / "best.pt")
    sets = load_probe_sets(data)
    probe = depth_probe(model, sets)
    assert probe.r2 == pytest.approx(dp["r2"], rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(probe.direction, u, rtol=1e-12, atol=1e-15)
    along = probes.step_summary([probe.apply(trace_batch(model, s)) for s in sets.values()])
    for key in ("increment", "decrement", "ratio"):
        if rep[key] is None:  # JSON null: undefined (e.g. a counter that does not move)
            assert not math.isfinite(along[key]), key
        else:
            assert along[key] == pytest.approx(rep[key], rel=1e-12), key
    assert all((out / name).is_file() for name in rep["plots"])
