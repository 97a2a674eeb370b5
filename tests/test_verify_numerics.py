"""The error model behind verify's certificates, and the enclosures themselves.

- the assumed kernel error (KERNEL_ULPS) holds, with room, on torch's kernels here;
- the interval-with-error operations enclose float32 results of every order of evaluation,
  fused or not;
- every state torch computes on a random Dyck prefix lies in a box of its (position, depth)
  cell, for random and near-exact models of each cell, in both dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constructions
from counting.dyck import depth_profile, one_hot
from counting.generators import uniform_word
from counting.models import CounterRNN
from probes.worstcase.cells import CELL_IDS, cell_params, h_range, image, readout_status
from probes.worstcase.numerics import (
    KERNEL_ULPS,
    NUM_OVF,
    grid_exact,
    measure_kernel_error,
    numeric_config,
    q_affine,
    q_mul,
    q_sigmoid,
    snap_hi,
    snap_lo,
)
from probes.worstcase.search import RowPair, row_dmax
from probes.worstcase.wide import WideModel, WideRowPair
from tests.test_verify import embed, near_exact_models, random_models, set_weights, wide_models


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kernel", ["torch", "lstm", "gru"])
@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_kernel_error_is_well_inside_the_assumption(fn, kernel, dtype):
    assert measure_kernel_error(fn, kernel, dtype, n=20_000, seed=7) < KERNEL_ULPS / 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_of_zero_is_one_half(dtype):
    from constructions.saturation import kernel_values

    for kernel in ("torch", "lstm", "gru"):
        assert kernel_values("sigmoid", [0.0, -0.0], dtype, kernel).tolist() == [0.5, 0.5]


F32 = numeric_config(torch.float32, "lstm")


def f32(x):
    return np.float32(x)


def inside(a: float, da: float) -> np.float32:
    """The float32 nearest to a + da that is not farther from a than |da|."""
    v = f32(a + da)
    while abs(float(v) - a) > abs(da):
        v = np.nextafter(v, f32(a))
    return v


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.floats(-100, 100, width=32), min_size=5, max_size=5))
def test_affine_encloses_every_float32_order(v):
    a1, a2, a3, w, h = (float(f32(x)) for x in v)
    lo, hi, e = q_affine(a1, a2, a3, w, h, h, F32)
    p = f32(w) * f32(h)
    exact_p = float(w) * float(h)  # exact in float64
    values = [
        f32(f32(f32(a1) + f32(a2)) + f32(a3)) + p,
        f32(f32(exact_p + a3) + f32(f32(a1) + f32(a2))),  # fused w h + b_hh
        f32(a1) + f32(f32(a2) + f32(f32(a3) + p)),
        f32(f32(a1) + f32(a3)) + f32(f32(a2) + p),
    ]
    for x in values:
        assert lo - e <= float(x) <= hi + e


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.floats(-1e3, 1e3, width=32), st.floats(0, 1e-2), st.floats(-1e3, 1e3, width=32),
       st.floats(0, 1e-2))
def test_mul_encloses_float32_products_of_perturbed_inputs(a, ea, b, eb):
    lo, hi, e = q_mul(a, a, ea, b, b, eb, F32)
    for da in (-ea, 0.0, ea):
        for db in (-eb, 0.0, eb):  # computed inputs: float32 values within the errors
            x = float(f32(inside(a, da) * inside(b, db)))
            assert lo - e <= x <= hi + e


def test_exact_arithmetic_stays_exact():
    assert q_affine(3.0, -1.0, 0.0, 1.0, 7.0, 7.0, F32)[2] == 0.0  # 9, exactly
    assert q_affine(0.1, 0.0, 0.0, 1.0, 7.0, 7.0, F32)[2] > 0.0
    assert grid_exact(2.0**24, 1.0, 0.0, 0.0, True) is False  # 2^24 + 1 is not a float32
    assert grid_exact(2.0**23, 1.0, 0.0, 0.0, True) is True
    assert q_sigmoid(0.0, 0.0, 0.0, F32, 17.0) == (0.5, 0.5, 0.0)
    assert q_sigmoid(40.0, 41.0, 1e-3, F32, 17.0) == (1.0, 1.0, 0.0)
    x = 0.1
    assert snap_lo(x, True) >= x and float(f32(snap_lo(x, True))) == snap_lo(x, True)
    assert snap_hi(x, True) <= x and snap_hi(x, True) == np.nextafter(snap_lo(x, True),
                                                                        np.float32(0))


@torch.no_grad()
def torch_states(model, word: str) -> tuple[np.ndarray, np.ndarray]:
    """(h, c) after every token, from the torch module itself, one step at a time
    (c = h for ReLU and GRU)."""
    x = torch.as_tensor(one_hot(word), dtype=model.dtype)[None]
    hs, cs = [], []
    state = None
    for t in range(len(word)):
        out, state = model.rnn(x[:, t:t + 1], state)
        hs.append(float(out[0, 0, 0]))
        cs.append(float(state[1][0, 0, 0]) if model.cell == "lstm" else hs[-1])
    return np.array(hs), np.array(cs)


def check_enclosures(model, n_words: int = 6, length: int = 60, K: int = 4, seed: int = 0):
    cell = model.cell
    P = cell_params(model)
    num = numeric_config(model.dtype, cell if cell != "relu" else None)
    rng = np.random.default_rng(seed)
    words = [uniform_word(rng, length) for _ in range(n_words)]
    traces = [torch_states(model, w) for w in words]
    depths = [depth_profile(w) for w in words]
    bound = length
    pair = RowPair(CELL_IDS[cell], P, num, K, bound)
    for t in range(length):
        dmax = row_dmax(t, bound)
        if dmax < 0:
            break
        pair.advance(dmax)
        r = pair.row
        for (hs, cs), dep in zip(traces, depths):
            d = int(dep[t])
            if d > dmax or not (np.isfinite(hs[t]) and np.isfinite(cs[t])):
                continue
            inside = False
            for k in range(r["n"][d]):
                b = r["box"][d, k]
                if np.isnan(b).any():  # a lost enclosure holds anything, and certifies nothing
                    assert r["status"][d] != 0, (t, d, b)
                    inside = True
                    continue
                assert np.isfinite(b).all() and b[0] <= b[1] and b[2] <= b[3], (t, d, b)
                lo, hi = h_range(CELL_IDS[cell], num, *b)
                ok = lo <= hs[t] <= hi
                if cell == "lstm":
                    ok = ok and b[2] <= cs[t] <= b[3]
                inside = inside or ok
            assert inside, (t, d, hs[t], cs[t], r["box"][d, : r["n"][d]])


SOUND = settings(max_examples=8, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])


@SOUND
@given(random_models(dtypes=("float64", "float32")))
def test_enclosures_hold_torch_states_random(model):
    check_enclosures(model)


@SOUND
@given(near_exact_models(dtypes=("float64", "float32")))
def test_enclosures_hold_torch_states_near_exact(model):
    check_enclosures(model)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_enclosures_hold_torch_states_leaky(dtype):
    for model in (constructions.leaky_counter("lstm", 1e-2, dtype),
                  constructions.leaky_counter("gru", 1e-2, dtype),
                  constructions.mismatched_relu(1.0, 0.9, 0.99, dtype)):
        check_enclosures(model, n_words=4, length=120, K=2, seed=1)


@pytest.mark.parametrize("dtype,length", [(torch.float32, 100), (torch.float64, 560)])
@pytest.mark.parametrize("w_hh", [4.0, 3.0])
def test_exploding_relu_states_stay_enclosed(dtype, length, w_hh):
    # h grows as w_hh^t to the dtype's overflow; before, a box was computed as inf - inf =
    # NaN there and the torch state (finite, 1.2e308) was in no box. Now a box whose step
    # may overflow is lost (nan) and certifies nothing; the others still hold torch's states.
    model = CounterRNN("relu", 1, dtype)
    set_weights(model, np.array([1.0, 1.0, w_hh, 0.5, 0.0, 1.0, -1.0, 0.3, -0.2]))
    check_enclosures(model, n_words=6, length=length, K=2, seed=1)


def test_lost_boxes_are_undecided():
    model = constructions.exact_counter("lstm")
    P, num = cell_params(model), numeric_config(torch.float64, "lstm")
    assert readout_status(P, num, np.nan, np.nan, 1) == 1
    assert all(np.isnan(image(CELL_IDS["lstm"], P, num, 0, np.nan, 1.0, 0.0, 1.0)))
    assert all(np.isnan(q_affine(0.0, 1.0, 0.0, 2.0, 0.0, np.inf, num)))
    big = num[NUM_OVF]
    assert all(np.isnan(q_mul(big, big, 0.0, 2.0, 2.0, 0.0, num)))
    assert np.isnan(snap_hi(1e39, True)) and np.isnan(snap_lo(-1e39, True))


def test_lost_wide_boxes_are_undecided():
    # the same rules in the hidden-size > 1 search: a float32 bound beyond the float32
    # range, or a sum that may overflow, is lost (nan), and a lost box decides no output
    from probes.worstcase import wide

    wm = wide.WideModel(embed(constructions.exact_counter("relu", torch.float32), 2))
    num = wm.num
    lo, hi = wide._snap(np.array([[1.0, 1e39]]), np.array([[2.0, 2e39]]), num)
    assert np.isfinite(lo[0, 0]) and np.isnan(lo[0, 1]) and np.isnan(hi[0, 1])
    assert lo.dtype == np.float64
    q = wide.q_affine(np.array([[2.0, 0.0]]), (np.zeros(1), np.zeros(1)),
                      np.array([[num[NUM_OVF], 0.0]]), np.array([[num[NUM_OVF], 0.0]]), num, 3)
    assert np.isnan(q.lo).all() and np.isnan(q.e).all()
    above, below = wm.readout(np.full((1, 2), np.nan), np.full((1, 2), np.nan))
    assert not above.any() and not below.any()


@torch.no_grad()
def check_enclosures_wide(model, n_words: int = 5, length: int = 50, seed: int = 0):
    """Every unit of torch's h (and c) on random words lies in its cell's box."""
    rng = np.random.default_rng(seed)
    words = [uniform_word(rng, length) for _ in range(n_words)]
    x = torch.as_tensor(np.stack([one_hot(w) for w in words]), dtype=model.dtype)
    hs = []
    cs = []
    state = None
    for t in range(length):
        out, state = model.rnn(x[:, t:t + 1], state)
        hs.append(out[:, 0].double().numpy())
        cs.append(state[1][0].double().numpy() if model.cell == "lstm" else hs[-1])
    depths = np.stack([depth_profile(w) for w in words])
    pair = WideRowPair(WideModel(model), length)
    for t in range(length):
        dmax = row_dmax(t, length)
        if dmax < 0:
            break
        pair.advance(dmax)
        for b in range(n_words):
            d = int(depths[b, t])
            if d > dmax or not np.isfinite(hs[t][b]).all():
                continue
            box = pair.row["box"][d, 0]
            if np.isnan(box).any():  # lost: holds anything, certifies nothing
                assert pair.row["status"][d] != 0, (t, d)
                continue
            assert (box[0] <= hs[t][b]).all() and (hs[t][b] <= box[1]).all(), (t, d)
            if model.cell == "lstm":
                assert (box[2] <= cs[t][b]).all() and (cs[t][b] <= box[3]).all(), (t, d)


@pytest.mark.parametrize("dtype,length", [(torch.float32, 80), (torch.float64, 540)])
def test_exploding_wide_relu_states_stay_enclosed(dtype, length):
    model = CounterRNN("relu", 2, dtype)
    with torch.no_grad():
        model.rnn.weight_hh_l0.copy_(torch.tensor([[4.0, 0.0], [0.0, 3.0]]))
        model.rnn.weight_ih_l0.fill_(1.0)
        model.rnn.bias_ih_l0.fill_(0.5)
        model.rnn.bias_hh_l0.zero_()
    check_enclosures_wide(model.eval(), n_words=5, length=length)


@SOUND
@given(wide_models(dtypes=("float64", "float32")))
def test_enclosures_hold_torch_states_hidden_size_2(model):
    check_enclosures_wide(model)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(random_models(dtypes=("float64", "float32")),
                 near_exact_models(dtypes=("float64", "float32"))), st.integers(0, 2**16))
def test_enclosures_hold_torch_states_many(model, seed):
    check_enclosures(model, n_words=8, length=160, K=2, seed=seed)
