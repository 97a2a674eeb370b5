"""probes.verify: certified length and shortest failing word over all Dyck words.

Checked against brute force through the torch module over every Dyck word up to length
16 (random small models of each cell and near-exact perturbations of the constructions,
both dtypes), against derived cases (a mismatched ReLU, the leaky LSTM and GRU), and on
the exact constructions.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constructions
import probes
from counting.dyck import depth_profile, one_hot
from counting.generators import nested
from counting.models import CounterRNN
from probes.worstcase.report import KEYS
from probes.worstcase.witness import run_length

BRUTE_MAX = 16


@functools.cache
def dyck_words(length: int) -> tuple[str, ...]:
    """Every Dyck word of exactly `length` tokens (Catalan(length / 2) of them)."""
    out = []

    def grow(prefix: str, depth: int) -> None:
        rest = length - len(prefix)
        if rest == 0:
            out.append(prefix)
            return
        if depth + 1 <= rest - 1:
            grow(prefix + "(", depth + 1)
        if depth > 0:
            grow(prefix + ")", depth - 1)

    grow("", 0)
    return tuple(out)


@torch.no_grad()
def first_wrong(model, words) -> np.ndarray:
    """(B,) index of the first wrong token of each word (the README's rule), -1 if none."""
    x = torch.as_tensor(np.stack([one_hot(w) for w in words]), dtype=model.dtype)
    out = model(x).double().numpy()
    depth = np.stack([depth_profile(w) for w in words])
    pred = out > 0.5
    wrong = ~pred[..., 0] | (pred[..., 1] != (depth > 0)) | ~np.all(np.isfinite(out), -1)
    return np.where(wrong.any(1), wrong.argmax(1), -1)


def brute_shortest_failure(model, max_length: int = BRUTE_MAX) -> int | None:
    """Length of the shortest Dyck word with a wrong token, by trying every word."""
    for L in range(2, max_length + 1, 2):
        if (first_wrong(model, dyck_words(L)) >= 0).any():
            return L
    return None


def check_against_brute_force(model, max_length: int = BRUTE_MAX,
                              require_exact: bool = True) -> dict:
    res = probes.verify(model, max_length)
    assert tuple(res) == KEYS
    brute = brute_shortest_failure(model, max_length)
    fail = res["shortest_failure"]
    # the certificate is never contradicted: no word of length <= certified fails
    assert brute is None or res["certified_length"] < brute
    if fail is not None:  # every reported failure is real: it fails on torch at `position`
        assert first_wrong(model, [fail["word"]])[0] == fail["position"]
        assert len(fail["word"]) == fail["length"]
        assert brute is not None and fail["length"] >= brute
    if require_exact:  # hidden size 1: up to 16 tokens, the two always meet
        assert res["exact"], res
    if res["exact"]:
        assert (fail["length"] if fail else None) == brute
        assert res["certified_length"] == (brute - 2 if brute else max_length)
    return res


# ---------------------------------------------------------------- models
def set_weights(model: CounterRNN, values: np.ndarray) -> CounterRNN:
    """Fill the parameters in state_dict order from a flat vector (float64 values)."""
    with torch.no_grad():
        i = 0
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.as_tensor(values[i:i + n], dtype=torch.float64).reshape(p.shape))
            i += n
    return model.eval()


def n_params(cell: str) -> int:
    g = {"lstm": 4, "relu": 1, "gru": 3}[cell]
    return 5 * g + 4  # W_ih (g, 2), W_hh (g, 1), b_ih, b_hh (g,); readout (2, 1), (2,)


@st.composite
def random_models(draw, cells=("lstm", "relu", "gru"), dtypes=("float64",)):
    cell = draw(st.sampled_from(cells))
    dtype = draw(st.sampled_from(dtypes))
    vals = draw(st.lists(st.floats(-4, 4, allow_nan=False, width=32),
                         min_size=n_params(cell), max_size=n_params(cell)))
    return set_weights(CounterRNN(cell, 1, dtype), np.asarray(vals))


@st.composite
def near_exact_models(draw, dtypes=("float64",)):
    """A construction (exact, leaky, mismatched) with every weight perturbed a little."""
    dtype = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(["exact_lstm", "exact_relu", "leaky_lstm", "leaky_gru",
                                 "mismatched_relu"]))
    if kind.startswith("exact"):
        base = constructions.exact_counter(kind[6:], dtype)
    elif kind.startswith("leaky"):
        eps = draw(st.floats(1e-3, 0.2))
        base = constructions.leaky_counter(kind[6:], eps, dtype)
    else:
        up, down = draw(st.floats(0.5, 1.5)), draw(st.floats(0.5, 1.5))
        base = constructions.mismatched_relu(up, down, draw(st.floats(0.8, 1.05)), dtype)
    flat = torch.cat([p.detach().double().reshape(-1) for p in base.parameters()]).numpy()
    scale = draw(st.sampled_from([1e-3, 1e-2, 0.1]))
    noise = np.asarray(draw(st.lists(st.floats(-1, 1), min_size=flat.size,
                                     max_size=flat.size)))
    model = CounterRNN(base.cell, 1, dtype)
    return set_weights(model, flat + scale * noise * np.maximum(np.abs(flat), 0.1))


def embed(small: CounterRNN, H: int = 2, mix: float = 0.0, seed: int = 0) -> CounterRNN:
    """A model with H units whose unit 0 is the hidden-size-1 model `small` and the others
    idle, every weight then moved by mix * N(0, 1)."""
    rng = np.random.default_rng(seed)
    G = {"lstm": 4, "relu": 1, "gru": 3}[small.cell]
    one = small.state_dict()
    big = CounterRNN(small.cell, H, small.dtype)
    sd = {k: torch.zeros_like(v) for k, v in big.state_dict().items()}
    for g in range(G):
        for name in ("rnn.weight_ih_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"):
            sd[name][g * H] = one[name][g]
        sd["rnn.weight_hh_l0"][g * H, 0] = one["rnn.weight_hh_l0"][g, 0]
    sd["readout.weight"][:, 0] = one["readout.weight"][:, 0]
    sd["readout.bias"] = one["readout.bias"].clone()
    for k in sd:
        sd[k] = sd[k] + mix * torch.as_tensor(rng.standard_normal(sd[k].shape), dtype=sd[k].dtype)
    big.load_state_dict(sd)
    return big.eval()


@st.composite
def wide_models(draw, dtypes=("float64",)):
    """Hidden size 2: a near-exact construction embedded in unit 0, or random weights."""
    if draw(st.booleans()):
        return embed(draw(near_exact_models(dtypes)), 2, draw(st.sampled_from([0, 1e-3, 1e-2])),
                     draw(st.integers(0, 100)))
    cell = draw(st.sampled_from(["lstm", "relu", "gru"]))
    model = CounterRNN(cell, 2, draw(st.sampled_from(dtypes)))
    n = sum(p.numel() for p in model.parameters())
    vals = draw(st.lists(st.floats(-3, 3, width=32), min_size=n, max_size=n))
    return set_weights(model, np.asarray(vals))


FAST = settings(max_examples=6, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(random_models())
def test_random_models_match_brute_force(model):
    check_against_brute_force(model)


@FAST
@given(near_exact_models())
def test_near_exact_models_match_brute_force(model):
    check_against_brute_force(model)


@pytest.mark.slow
@SLOW
@given(random_models(dtypes=("float64", "float32")))
def test_random_models_match_brute_force_many(model):
    check_against_brute_force(model)


@pytest.mark.slow
@SLOW
@given(near_exact_models(dtypes=("float64", "float32")))
def test_near_exact_models_match_brute_force_many(model):
    check_against_brute_force(model)


@FAST
@given(wide_models())
def test_hidden_size_2_is_sound(model):
    check_against_brute_force(model, require_exact=False)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_models(dtypes=("float64", "float32")))
def test_hidden_size_2_is_sound_many(model):
    check_against_brute_force(model, require_exact=False)


@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_hidden_size_2_certifies_an_embedded_exact_counter(cell):
    res = probes.verify(embed(constructions.exact_counter(cell)), 200)
    assert res["hidden_size"] == 2 and res["certified_length"] == 200 and res["exact"]
    assert res["method"] == "bound"  # hidden size > 1 is always labelled a bound


def test_hidden_size_2_mismatched_relu_matches_hidden_size_1():
    res = probes.verify(embed(constructions.mismatched_relu(1.0, 0.97)), 100)
    assert res["certified_length"] == 32 and res["shortest_failure"]["length"] == 34


# ---------------------------------------------------------------- derived cases
def test_mismatched_relu_first_fails_at_34_tokens():
    # h' = relu(h + 1) on '(' and relu(h - 0.97) on ')'; ')' is allowed iff h > 1/2 (the
    # readout threshold up / 2). At depth d > 0, h >= d - 0.97 (d - 1) >= 1 > 1/2: right.
    # A balanced prefix with n pairs ends at h = 0.03 n (h never reaches 0, so relu never
    # clips), wrong iff 0.03 n > 1/2: 16 * 0.03 = 0.48 is right, 17 * 0.03 = 0.51 wrong.
    # So every word of 34 tokens fails at its last token, and none shorter does.
    model = constructions.mismatched_relu(up=1.0, down=0.97)
    w, b = model.readout.weight[1, 0].item(), model.readout.bias[1].item()
    assert -b / w == 0.5
    res = probes.verify(model, 1000)
    fail = res["shortest_failure"]
    assert res["exact"] and res["method"] == "exact"
    assert res["certified_length"] == 32
    assert fail["length"] == 34 and fail["position"] == 33 and fail["depth"] == 0
    assert fail["class"] == "at-zero"
    assert first_wrong(model, [fail["word"]])[0] == 33


def test_relu_with_larger_decrement_first_fails_early_at_36_tokens():
    # h' = relu(h + 1) / relu(h - 1.03), ')' allowed iff h > 1/2. While a prefix stays above
    # depth 0, h = (#'(') - 1.03 (#')') = d - 0.03 k after k closes at depth d; at depth 0 it
    # would be negative, so relu clips it to 0 and the count restarts. Wrong at d >= 1 iff
    # d - 0.03 k <= 1/2: first at d = 1, k = 17 (1 - 0.51), a prefix of 18 + 17 = 35 tokens,
    # closed to 36; with k <= 16, h >= 1 - 0.48 > 1/2. The failure is early (d = 1 <= P/2).
    model = constructions.mismatched_relu(up=1.0, down=1.03)
    res = probes.verify(model, 1000)
    fail = res["shortest_failure"]
    assert res["exact"] and res["certified_length"] == 34
    assert fail["length"] == 36 and fail["position"] == 34 and fail["depth"] == 1
    assert fail["class"] == "early"


@pytest.mark.parametrize("cell,eps", [("lstm", 1e-3), ("lstm", 3e-4), ("gru", 2e-3)])
def test_leaky_counter_fails_first_on_the_nested_word(cell, eps):
    # u' = (1 - eps) u + s (s = +1 on '(', -1 on ')'), ')' allowed iff u > 1/2. After a
    # prefix of T tokens, u = sum_k s_k (1 - eps)^(T - k): recent tokens weigh more. At depth
    # 0 every matched pair adds (1-eps)^(T-i) - (1-eps)^(T-j) < 0 (i < j), so u < 0: never
    # wrongly on. At (T, d > 0) u is least when every '(' comes first: the prefix of the
    # nested word. So every level's worst case is nested(m), and the shortest failing word
    # has 2 D tokens, D = the closed form's nested_failure_depth.
    model = constructions.leaky_counter(cell, eps)
    D = constructions.nested_failure_depth(model)
    res = probes.verify(model, 1000)
    fail = res["shortest_failure"]
    assert res["exact"]
    assert fail["length"] == 2 * D and res["certified_length"] == 2 * D - 2
    assert first_wrong(model, [nested(D)])[0] == constructions.nested_first_failure(model, D)
    assert (first_wrong(model, [nested(D - 1)]) < 0).all()


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_constructions_are_certified(cell, dtype):
    res = probes.verify(constructions.exact_counter(cell, dtype), 1000)
    assert res["certified_length"] == 1000 and res["shortest_failure"] is None
    assert res["exact"] and res["method"] == "exact"


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_constructions_are_certified_long(cell, dtype):
    res = probes.verify(constructions.exact_counter(cell, dtype), 10_000)
    assert res["certified_length"] == 10_000 and res["exact"]


@pytest.mark.parametrize("make", [lambda: constructions.mismatched_relu(1.0, 0.97),
                                  lambda: constructions.leaky_counter("lstm", 1e-3),
                                  lambda: embed(constructions.leaky_counter("gru", 1e-2))])
def test_words_rebuilt_in_segments_are_the_same(make, monkeypatch):
    # with almost no memory for back-pointers the rows are recomputed in segments from
    # snapshots (recursively); the word found must not change
    from probes.worstcase import search

    model = make()
    whole = probes.verify(model, 200)["shortest_failure"]
    monkeypatch.setattr(search, "CODE_BUDGET", 2000)
    pieces = probes.verify(model, 200)["shortest_failure"]
    assert pieces == whole and pieces is not None


def test_odd_max_length_rounds_down():
    res = probes.verify(constructions.exact_counter("relu"), np.int64(7))
    assert res["max_length"] == 7 and res["certified_length"] == 6 and res["exact"]


def test_run_length():
    assert run_length("(((())))") == "(^4 )^4"
    assert run_length("()(())") == "( ) (^2 )^2"
    assert run_length("()()") == "( ) ( )"
    assert run_length("") == ""


def test_max_length_is_checked():
    model = constructions.exact_counter("relu")
    for bad in (0, 1, 100_001, 2.5):
        with pytest.raises(ValueError):
            probes.verify(model, bad)
    with pytest.raises(ValueError, match="10,000 tokens"):
        probes.verify(embed(model), 10_002)
