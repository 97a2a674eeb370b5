"""Weight repair (`constructions.repair`): the nearest exact counter to a model.

Checked against brute force: a repaired model is right on every token of every Dyck word up
to length 16, of deep nested words and of zigzags (through the torch module), and its
change is measured against the perturbation that produced it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions import exact_counter
from constructions.conditions import distance_from_ideal
from constructions.repair import RepairRefused, project, repair
from counting.dyck import targets
from counting.generators import nested, zigzag
from counting.metrics import token_correct
from counting.models import CounterRNN, init_model, pad_batch


def dyck_words(max_len: int) -> list[str]:
    """Every Dyck-1 word of even length 2..max_len (brute force)."""
    words = []
    for n in range(2, max_len + 1, 2):
        for bits in itertools.product("()", repeat=n):
            depth = 0
            for ch in bits:
                depth += 1 if ch == "(" else -1
                if depth < 0:
                    break
            else:
                if depth == 0:
                    words.append("".join(bits))
    return words


WORDS_16 = dyck_words(16)
LONG = [nested(500), zigzag(10, 2000), zigzag(250, 2000), "()" * 600 + nested(200)]


@torch.no_grad()
def all_right(model: CounterRNN, words: list[str]) -> bool:
    x, lengths = pad_batch(words, model.dtype)
    out = model(x).double().numpy()
    return all(token_correct(out[b, : lengths[b]], targets(w)).all()
               for b, w in enumerate(words))


def params(model) -> np.ndarray:
    return np.concatenate([p.detach().double().numpy().ravel() for p in model.parameters()])


def perturbed(cell: str, noise: float, seed: int, dtype=torch.float64) -> CounterRNN:
    model = exact_counter(cell, dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_((torch.randn(p.shape, generator=g, dtype=torch.float64) * noise).to(p.dtype))
    return model


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_exact_construction_is_left_unchanged(cell, dtype):
    model = exact_counter(cell, dtype)
    r = repair(model)
    assert np.max(np.abs(params(r.model) - params(model))) <= 1e-12
    assert r.summary()["max_abs_change"] <= 1e-12


@settings(max_examples=12, deadline=None)
@given(cell=st.sampled_from(["lstm", "relu"]), noise=st.floats(1e-4, 0.05),
       seed=st.integers(0, 2**31 - 1))
def test_a_perturbed_construction_is_repaired_no_further_than_the_perturbation(cell, noise,
                                                                               seed):
    model = perturbed(cell, noise, seed)
    r = repair(model)
    change = np.linalg.norm(params(r.model) - params(model))
    perturbation = np.linalg.norm(params(model) - params(exact_counter(cell)))
    assert change <= perturbation + 1e-12
    assert r.summary()["l2_change"] == pytest.approx(change, rel=1e-12, abs=1e-15)
    assert distance_from_ideal(r.model)["float_exact"] == 1.0
    assert all_right(r.model, WORDS_16[-300:] + LONG)


def test_repaired_models_are_right_on_every_short_word_and_long_ones():
    for cell, seed in itertools.product(["lstm", "relu"], range(3)):
        r = repair(perturbed(cell, 0.03, seed))
        assert all_right(r.model, WORDS_16 + LONG), (cell, seed)


def test_the_relu_step_is_snapped_to_a_power_of_two_and_keeps_its_sign_of_scale():
    model = exact_counter("relu")
    with torch.no_grad():
        model.rnn.weight_ih_l0[0] = torch.tensor([0.7, -0.6], dtype=torch.float64)
        model.rnn.weight_hh_l0[0, 0] = 0.97
        model.rnn.bias_ih_l0[0] = 0.02
        model.readout.weight[1, 0] = 10.0 / 0.65
        model.readout.bias[1] = -5.0
    r = repair(model)
    assert r.counter["step_after"] == 0.5  # (0.7 + 0.6) / 2 = 0.65 -> 2^-1
    w = r.model.rnn.weight_ih_l0.detach().numpy()[0]
    assert w.tolist() == [0.5, -0.5]
    assert all_right(r.model, WORDS_16 + LONG)


def test_an_lstm_counting_downwards_keeps_its_sign():
    model = exact_counter("lstm")
    with torch.no_grad():
        model.rnn.weight_ih_l0[2] *= -1  # g = -1 on '(' , +1 on ')': c = -depth
        model.readout.weight[1] *= -1
        model.rnn.bias_ih_l0[1] = 4.0  # forget gate 0.982: leaky
    assert not all_right(model, [nested(300)])
    r = repair(model)
    assert r.counter["sign"] == -1.0 and r.counter["step_after"] == -1.0
    assert all_right(r.model, WORDS_16 + LONG)
    assert distance_from_ideal(r.model)["float_exact"] == 1.0


def test_a_gru_is_refused_with_the_reason():
    from constructions import leaky_counter

    with pytest.raises(RepairRefused, match="GRU cannot count exactly.*construct --cell gru"):
        repair(leaky_counter("gru", 1e-3))


def test_an_untrained_model_is_refused():
    refused = 0
    for seed in range(20):
        for cell in ("lstm", "relu"):
            try:
                repair(init_model(cell, 1, seed, "float64"))
            except RepairRefused as err:
                refused += 1
                assert str(err)
    assert refused >= 36  # identification rejects (almost) every random init


def test_hidden_size_above_one_is_refused():
    with pytest.raises(RepairRefused, match="hidden size 1"):
        repair(CounterRNN("lstm", 2, torch.float64))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 4), n=st.integers(4, 6))
def test_project_is_the_nearest_feasible_point(seed, m, n):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    t = rng.normal(size=m)
    v0 = rng.normal(size=n) * 3
    v = project(v0, A, t)
    assert np.all(A @ v >= t - 1e-9)
    d = np.linalg.norm(v - v0)
    # no feasible point on a random sample around v is nearer to v0
    for _ in range(200):
        w = v + rng.normal(size=n) * rng.choice([1e-3, 1e-1, 1.0])
        if np.all(A @ w >= t):
            assert np.linalg.norm(w - v0) >= d - 1e-9


@pytest.mark.slow
def test_repaired_trained_models_are_certified_and_no_less_accurate(tmp_path):
    """Train small models on the smoke data (engine, a few epochs), repair every one that
    has an identifiable counter: each is certified by verify and its train/validation
    accuracy is no worse than before."""
    from counting.datasets import make_datasets
    from counting.metrics import evaluate
    from counting.sweep import run_sweep
    from probes import verify

    sets = make_datasets("smoke", seed=0, progress=False)
    rows = run_sweep(sets, tmp_path / "s", cells=("lstm", "relu"), runs=(4, 6), epochs=15,
                     seed=3, progress=False)
    repaired = 0
    for r in rows:
        from counting.checkpoint import load_checkpoint

        model, _ = load_checkpoint(f"{r['dir']}/best.pt")
        try:
            fixed = repair(model)
        except RepairRefused:
            continue
        repaired += 1
        v = verify(fixed.model, max_length=2000)
        assert v["certified_length"] == 2000 and v["shortest_failure"] is None, r["dir"]
        for name in ("train", "validation"):
            assert (evaluate(fixed.model, sets[name])["accuracy"]
                    >= evaluate(model, sets[name])["accuracy"])
    assert repaired >= 3
