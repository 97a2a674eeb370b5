"""The exact counters as ordinary CounterRNNs, differentially against a plain integer counter:
every output right on every token, and the counter variable equal to the depth exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
from counting.checkpoint import load_checkpoint, save_checkpoint
from counting.datasets import PROFILES, ZIGZAG_J
from counting.dyck import depth_profile, one_hot, targets
from counting.generators import conditioned_pcfg_word, nested, uniform_word, zigzag
from counting.metrics import token_correct
from counting.models import CounterRNN, pad_batch

EXACT = [("lstm", torch.float64), ("lstm", torch.float32),
         ("relu", torch.float64), ("relu", torch.float32)]


def all_zigzags(length: int = 2000) -> list[str]:
    """Every zigzag of `length` tokens (all j with 2j | length), the paper's and smoke's j."""
    js = {j for j in range(1, length // 2 + 1) if length % (2 * j) == 0}
    assert set(ZIGZAG_J) <= js and set(PROFILES["smoke"].zigzag_j) <= js
    return [zigzag(j, length) for j in sorted(js)]


@torch.no_grad()
def outputs_and_states(model, seqs):
    """Batched forward -> (probs list of (L, 2), h list of (L,))."""
    x, lengths = pad_batch(seqs, model.dtype)
    h, _ = model.rnn(x)
    probs = torch.sigmoid(model.readout(h))
    assert torch.equal(probs, model(x))  # the same path as CounterRNN.forward
    p = probs.double().numpy()
    hh = h[..., 0].double().numpy()
    return ([p[b, : lengths[b]] for b in range(len(seqs))],
            [hh[b, : lengths[b]] for b in range(len(seqs))])


@torch.no_grad()
def lstm_cells(model, seq: str) -> np.ndarray:
    """c_t after every token, by carrying (h, c) through nn.LSTM one token at a time."""
    x = torch.as_tensor(one_hot(seq), dtype=model.dtype).reshape(1, -1, 2)
    h = c = torch.zeros(1, 1, 1, dtype=model.dtype)
    out = np.empty(len(seq))
    for t in range(len(seq)):
        _, (h, c) = model.rnn(x[:, t : t + 1], (h, c))
        out[t] = c.item()
    return out


def assert_all_right(model, seqs):
    probs, hs = outputs_and_states(model, seqs)
    for s, p, h in zip(seqs, probs, hs):
        right = token_correct(p, targets(s))
        assert right.all(), f"first wrong token {int(np.flatnonzero(~right)[0])} of {len(s)}"
        if model.cell == "relu":  # the counter is h itself: exactly the depth
            assert np.array_equal(h, depth_profile(s).astype(np.float64))


# --------------------------------------------------------------------- the models
@pytest.mark.parametrize("cell,dtype", EXACT)
def test_exact_counter_is_an_ordinary_model(cell, dtype, tmp_path):
    model = constructions.exact_counter(cell, dtype)
    assert type(model) is CounterRNN and model.cell == cell and model.hidden_size == 1
    assert model.dtype == dtype
    assert set(model.state_dict()) == set(CounterRNN(cell, 1, dtype).state_dict())
    save_checkpoint(model, tmp_path / "m.pt", meta=model.construction)
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["construction"] == "exact" and meta["cell"] == cell
    s = uniform_word(np.random.default_rng(1), 500)
    x = torch.as_tensor(one_hot(s), dtype=dtype)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_gru_has_no_exact_counter():
    with pytest.raises(ValueError, match="leaky_counter"):
        constructions.exact_counter("gru")
    with pytest.raises(ValueError, match="cell"):
        constructions.exact_counter("tanh")


def test_bad_family_parameters():
    for eps in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="eps"):
            constructions.leaky_counter("lstm", eps)
    with pytest.raises(ValueError, match="too small"):
        constructions.leaky_counter("gru", 1e-9, torch.float32)  # z rounds to 1.0
    with pytest.raises(ValueError, match="cell"):
        constructions.leaky_counter("relu", 0.1)
    with pytest.raises(ValueError, match="up"):
        constructions.mismatched_relu(up=0.0)
    with pytest.raises(ValueError, match="down"):
        constructions.mismatched_relu(down=-1.0)
    with pytest.raises(ValueError, match="w_hh"):
        constructions.mismatched_relu(w_hh=float("nan"))
    with pytest.raises(ValueError, match="logit_margin"):
        constructions.exact_counter("relu", logit_margin=0.0)


def test_default_mismatched_relu_is_the_exact_relu():
    a = constructions.mismatched_relu().state_dict()
    b = constructions.exact_counter("relu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------- differential vs the integer counter
@pytest.mark.parametrize("cell,dtype", EXACT)
def test_every_zigzag_every_token(cell, dtype):
    assert_all_right(constructions.exact_counter(cell, dtype), all_zigzags())


@pytest.mark.parametrize("cell,dtype", EXACT)
def test_random_dyck_words_every_token(cell, dtype):
    rng = np.random.default_rng(7)
    seqs = [uniform_word(rng, n) for n in (2, 10, 100, 1000, 10_000)]
    seqs += [conditioned_pcfg_word(rng, n) for n in (50, 1000, 4000)]
    seqs += [nested(3000)]
    assert_all_right(constructions.exact_counter(cell, dtype), seqs)


@st.composite
def dyck_words(draw, max_len=400):
    """A Dyck word from free choices: open while allowed and chosen, else close."""
    moves = draw(st.lists(st.booleans(), max_size=max_len))
    out, d = [], 0
    for m in moves:
        if m or d == 0:
            out.append("(")
            d += 1
        else:
            out.append(")")
            d -= 1
    return "".join(out) + ")" * d


@pytest.mark.parametrize("cell,dtype", EXACT)
@settings(max_examples=25, deadline=None)
@given(seq=dyck_words())
def test_hypothesis_words_every_token(cell, dtype, seq):
    if seq:
        assert_all_right(constructions.exact_counter(cell, dtype), [seq])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lstm_cell_state_is_the_depth_exactly(dtype):
    model = constructions.exact_counter("lstm", dtype)
    s = uniform_word(np.random.default_rng(3), 1200) + nested(300)
    assert np.array_equal(lstm_cells(model, s), depth_profile(s).astype(np.float64))


@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_readout_margins(cell):
    """Output 0 is the constant logit +L; output 1 is -L at depth 0 and > 0 from depth 1 on."""
    model = constructions.exact_counter(cell, logit_margin=3.0)
    s = nested(40)
    with torch.no_grad():
        h, _ = model.rnn(torch.as_tensor(one_hot(s)).reshape(1, -1, 2))
        logits = model.readout(h)[0].numpy()
    d = depth_profile(s)
    assert np.all(logits[:, 0] == 3.0)
    assert np.allclose(logits[d == 0, 1], -3.0) and np.all(logits[d > 0, 1] > 0)
