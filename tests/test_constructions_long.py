"""Very long inputs: random Dyck words of 10^5 tokens, nesting depth 10^6, and the float32
limit at depth 2^24, against the integer counter. Long runs use `stitched_run` (chunks run
side by side from the predicted states, every seam checked bit for bit), which the fast tests
here check against plain sequential runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import constructions
from constructions import AffineCounter
from constructions.longrun import stitched_run
from counting.datasets import ZIGZAG_J
from counting.dyck import depth_profile, targets
from counting.generators import conditioned_pcfg_word, nested, uniform_word, zigzag
from counting.metrics import token_correct
from counting.models import pad_batch

EXACT = [("lstm", torch.float64), ("lstm", torch.float32),
         ("relu", torch.float64), ("relu", torch.float32)]


def nested_tokens(depth: int) -> np.ndarray:
    """nested(depth) as token ids without building the string."""
    return np.concatenate([np.zeros(depth, np.int8), np.ones(depth, np.int8)])


# ------------------------------------------------------------------ the method itself
@pytest.mark.parametrize("cell,dtype", EXACT)
@torch.no_grad()
def test_stitched_run_is_bitwise_the_sequential_run(cell, dtype):
    model = constructions.exact_counter(cell, dtype)
    rng = np.random.default_rng(2)
    s = uniform_word(rng, 20_000) + zigzag(25, 1000) + nested(1500)
    r = stitched_run(model, s, chunk=256, rows=64, return_probs=True)
    seq_probs = model(torch.as_tensor(pad_batch([s], dtype)[0][0])).double().numpy()
    assert r.stitch_errors == [] and r.first_failure is None
    assert np.array_equal(r.probs, seq_probs)
    assert np.array_equal(r.correct, token_correct(seq_probs, targets(s)))


def test_stitched_run_reports_wrong_predictions():
    """Seams catch a prediction that is off: the exact model started from a leaky counter's
    states, and a leaky model started from exact states."""
    s = uniform_word(np.random.default_rng(4), 5000)
    r = stitched_run(constructions.exact_counter("relu"), s, AffineCounter.leaky(1e-3), 100)
    assert len(r.stitch_errors) > 0
    r = stitched_run(constructions.leaky_counter("lstm", 1e-3), s, AffineCounter.exact(), 100)
    assert len(r.stitch_errors) > 0


def test_stitched_run_needs_gates_that_ignore_h():
    model = constructions.exact_counter("lstm")
    with torch.no_grad():
        model.rnn.weight_hh_l0[0, 0] = 0.5
    with pytest.raises(ValueError, match="weight_hh_l0 = 0"):
        stitched_run(model, "(())")


# ------------------------------------------------------------------------- slow: long
@pytest.mark.slow
@pytest.mark.parametrize("cell,dtype", EXACT)
@torch.no_grad()
def test_random_words_up_to_1e5_tokens_sequentially(cell, dtype):
    """One sequential batch (no stitching): every token right; ReLU's h is the depth."""
    model = constructions.exact_counter(cell, dtype)
    rng = np.random.default_rng(10)
    seqs = [uniform_word(rng, n) for n in (100_000, 100_000, 50_000, 20_000)]
    seqs += [conditioned_pcfg_word(rng, 100_000), conditioned_pcfg_word(rng, 30_000)]
    x, lengths = pad_batch(seqs, dtype)
    h, _ = model.rnn(x)
    probs = torch.sigmoid(model.readout(h)).double().numpy()
    for b, s in enumerate(seqs):
        assert token_correct(probs[b, : lengths[b]], targets(s)).all()
        if cell == "relu":
            assert np.array_equal(h[b, : lengths[b], 0].double().numpy(),
                                  depth_profile(s).astype(np.float64))
        else:  # c = depth at every seam of a stitched run of the same word
            r = stitched_run(model, s, chunk=1000)
            assert r.stitch_errors == [] and r.correct.all()


@pytest.mark.slow
@pytest.mark.parametrize("cell,dtype", EXACT)
def test_nesting_depth_1e6(cell, dtype):
    model = constructions.exact_counter(cell, dtype)
    r = stitched_run(model, nested_tokens(10**6), chunk=1000, rows=1000)
    assert r.stitch_errors == []
    assert r.first_failure is None and r.correct.all() and r.correct.size == 2 * 10**6


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_float32_first_fails_where_predicted(cell):
    """Exact up to depth 2^24; on nested(2^24 + 3) the counter sticks at 2^24 and reads 0
    after 2^24 closes: the first wrong token is the derived D + 2^24 - 1."""
    model = constructions.exact_counter(cell, torch.float32)
    p = 2**24
    D = p + 3
    want = constructions.nested_first_failure(model, D)
    assert want == D + p - 1
    r = stitched_run(model, nested_tokens(D), chunk=1024, rows=1024)
    assert r.stitch_errors == [] and r.first_failure == want
    assert constructions.nested_first_failure(model, p) is None
    r = stitched_run(model, nested_tokens(p), chunk=1024, rows=1024)
    assert r.stitch_errors == [] and r.first_failure is None


@pytest.mark.slow
@pytest.mark.parametrize("cell,dtype", EXACT)
def test_long_zigzags(cell, dtype):
    """The paper's zigzag shapes stretched to 10^6 tokens each."""
    model = constructions.exact_counter(cell, dtype)
    for j in ZIGZAG_J:
        r = stitched_run(model, zigzag(j, 2 * j * (10**6 // (2 * j))), chunk=1000, rows=1000)
        assert r.stitch_errors == [] and r.first_failure is None


@pytest.mark.slow
@torch.no_grad()
def test_nesting_depth_1e6_sequentially_relu():
    """One plain sequential run of 2 * 10^6 tokens (no stitching): h is the depth throughout."""
    model = constructions.exact_counter("relu", torch.float64)
    x = torch.zeros(1, 2 * 10**6, 2, dtype=torch.float64)
    x[0, : 10**6, 0] = 1.0
    x[0, 10**6 :, 1] = 1.0
    h, _ = model.rnn(x)
    depth = np.concatenate([np.arange(1, 10**6 + 1), np.arange(10**6 - 1, -1, -1)])
    assert np.array_equal(h[0, :, 0].numpy(), depth.astype(np.float64))
    probs = torch.sigmoid(model.readout(h))[0].numpy()
    assert token_correct(probs, targets(nested(10**6))).all()
