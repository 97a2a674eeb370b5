"""probes.trace / trace_batch: the unrolled cells equal torch's modules; the Trace API."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from counting.dyck import DyckError, depth_profile, tokens
from counting.generators import uniform_word, zigzag
from counting.models import CELLS, init_model, pad_batch
from probes import Trace, trace, trace_batch
from probes.unroll import CELL_KEYS

TOL64 = 1e-12  # the contract: float64 traces equal the module's outputs within 1e-12


def module_outputs(model, seqs):
    """Torch's own h (B, T, H) and probabilities (B, T, 2) of a padded batch."""
    x, lengths = pad_batch(seqs, model.dtype)
    with torch.no_grad():
        h, _ = model.rnn(x)
        out = model(x)
    return h.double().numpy(), out.double().numpy(), lengths.numpy()


def reference_gates(model, seq):
    """Gates and states recomputed with torch ops, step by step (an independent oracle)."""
    w = dict(model.rnn.named_parameters())
    W_ih, W_hh, b_ih, b_hh = (w[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                "bias_hh_l0"))
    H = model.hidden_size
    x = torch.nn.functional.one_hot(torch.as_tensor(tokens(seq), dtype=torch.long), 2)
    x = x.to(model.dtype)
    h = torch.zeros(H, dtype=model.dtype)
    c = torch.zeros(H, dtype=model.dtype)
    rec = {k: [] for k in CELL_KEYS[model.cell]}
    with torch.no_grad():
        for t in range(len(seq)):
            gi, gh = W_ih @ x[t] + b_ih, W_hh @ h + b_hh
            if model.cell == "lstm":
                i, f, g, o = (gi + gh).split(H)
                i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
                c = f * c + i * g
                h = o * c.tanh()
                vals = {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
            elif model.cell == "gru":
                r = (gi[:H] + gh[:H]).sigmoid()
                z = (gi[H : 2 * H] + gh[H : 2 * H]).sigmoid()
                n = (gi[2 * H :] + r * gh[2 * H :]).tanh()
                h = (1 - z) * n + z * h
                vals = {"r": r, "z": z, "n": n, "h": h}
            else:
                pre = gi + gh
                h = pre.relu()
                vals = {"pre": pre, "h": h}
            for k, v in vals.items():
                rec[k].append(v.double().numpy().copy())
    return {k: np.array(v) for k, v in rec.items()}


@settings(max_examples=25, deadline=None)
@given(cell=st.sampled_from(CELLS), hidden=st.integers(1, 6), seed=st.integers(0, 10**6),
       lengths=st.lists(st.integers(1, 60), min_size=1, max_size=4))
def test_trace_batch_equals_module_float64(cell, hidden, seed, lengths):
    rng = np.random.default_rng(seed)
    seqs = [uniform_word(rng, 2 * n) for n in lengths]
    model = init_model(cell, hidden, seed, torch.float64)
    tr = trace_batch(model, seqs)
    h, out, L = module_outputs(model, seqs)
    for b, n in enumerate(L):
        np.testing.assert_allclose(tr["h"][b, :n], h[b, :n], rtol=TOL64, atol=TOL64)
        np.testing.assert_allclose(tr["out"][b, :n], out[b, :n], rtol=TOL64, atol=TOL64)


@settings(max_examples=12, deadline=None)
@given(cell=st.sampled_from(CELLS), hidden=st.integers(1, 5), seed=st.integers(0, 10**6))
def test_gates_equal_an_independent_torch_unroll(cell, hidden, seed):
    seq = uniform_word(np.random.default_rng(seed), 40)
    model = init_model(cell, hidden, seed, torch.float64)
    tr = trace(model, seq)
    ref = reference_gates(model, seq)
    for k in CELL_KEYS[cell]:
        np.testing.assert_allclose(tr[k], ref[k], rtol=TOL64, atol=TOL64, err_msg=k)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("hidden", [1, 4])
def test_long_zigzag_trace_equals_module_including_final_cell_state(cell, hidden):
    seq = zigzag(500, 2000)
    model = init_model(cell, hidden, 7, torch.float64)
    with torch.no_grad():  # make the recurrence large so that errors could accumulate
        model.rnn.weight_hh_l0.mul_(1.5)
    tr = trace(model, seq)
    x, _ = pad_batch([seq], torch.float64)
    with torch.no_grad():
        h, state = model.rnn(x)
        out = model(x)
    scale = max(1.0, float(h.abs().max()))
    np.testing.assert_allclose(tr.h, h[0].numpy(), rtol=TOL64, atol=TOL64 * scale)
    np.testing.assert_allclose(tr.out, out[0].numpy(), rtol=TOL64, atol=TOL64)
    if cell == "lstm":
        c_last = state[1][0, 0].numpy()
        np.testing.assert_allclose(tr.c[-1], c_last, rtol=TOL64, atol=TOL64)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_trace_follows_the_float32_module(cell):
    rng = np.random.default_rng(3)
    seqs = [uniform_word(rng, 300), uniform_word(rng, 50)]
    model = init_model(cell, 3, 3, torch.float32)
    tr = trace_batch(model, seqs)
    h, out, L = module_outputs(model, seqs)
    assert tr.dtype == "float32"
    for b, n in enumerate(L):  # float32 rounding differs by a few ulps between kernels
        np.testing.assert_allclose(tr["h"][b, :n], h[b, :n], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(tr["out"][b, :n], out[b, :n], rtol=1e-5, atol=1e-5)
    # every value is a float32 number (computed in the model's dtype, stored as float64)
    v = tr["h"][0, : L[0]]
    assert np.array_equal(v, v.astype(np.float32).astype(np.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gate,row,fn", [("f", 1, torch.sigmoid), ("g", 2, torch.tanh)])
def test_gates_saturate_exactly_where_torch_does(dtype, gate, row, fn):
    """A gate pre-activation at torch's own saturation point gives exactly 1.0, one
    representable step below it less than 1.0: saturation is judged in the model's dtype
    with the model's kernels (numpy's tanh saturates elsewhere, in both dtypes)."""
    lo, hi = torch.tensor(1.0, dtype=dtype), torch.tensor(60.0, dtype=dtype)
    while True:  # bisection for the smallest x with fn(x) == 1
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (lo, mid) if fn(mid) == 1 else (mid, hi)
    assert fn(hi) == 1 and fn(lo) < 1
    for bias, saturated in ((hi, True), (lo, False)):
        model = init_model("lstm", 1, 0, dtype)
        with torch.no_grad():
            model.rnn.weight_ih_l0[row].zero_()
            model.rnn.weight_hh_l0[row].zero_()
            model.rnn.bias_ih_l0[row] = bias
            model.rnn.bias_hh_l0[row] = 0
        v = trace(model, "(()")[gate]
        assert np.all(v == 1.0) == saturated and np.all(v <= 1.0)


def test_trace_api_keys_attributes_and_shapes():
    seq = "(()())"
    for cell in CELLS:
        model = init_model(cell, 2, 0, torch.float64)
        tr = trace(model, seq)
        assert isinstance(tr, Trace)
        assert list(tr.keys()) == [*CELL_KEYS[cell], "out", "token", "depth"]
        for k in CELL_KEYS[cell]:
            assert tr[k] is getattr(tr, k) and tr[k].shape == (6, 2)
        assert tr.out.shape == (6, 2)
        assert np.array_equal(tr.token, tokens(seq))
        assert np.array_equal(tr.depth, depth_profile(seq))
        assert tr.counter.shape == (6,)
        key = "c" if cell == "lstm" else "h"
        assert np.array_equal(tr.counter, tr[key][:, tr.unit])
        with pytest.raises(KeyError, match="not in this"):
            tr["nope"]
        with pytest.raises(AttributeError):
            tr.nope  # noqa: B018


def test_batch_is_padded_and_sequence_b_equals_the_single_trace():
    seqs = ["(())", "()", "((()))()"]
    model = init_model("lstm", 3, 1, torch.float64)
    tb = trace_batch(model, seqs)
    assert tb.batched and tb.c.shape == (3, 8, 3) and tb.out.shape == (3, 8, 2)
    assert np.array_equal(tb.lengths, [4, 2, 8])
    assert np.isnan(tb.c[1, 2:]).all() and (tb.token[1, 2:] == -1).all()
    assert np.array_equal(tb.mask, np.arange(8)[None] < np.array([4, 2, 8])[:, None])
    for b, s in enumerate(seqs):
        one = trace(model, s, unit=tb.unit)
        for k in tb:  # torch's SIMD kernels round the tail of an array differently: ~1 ulp
            np.testing.assert_allclose(tb.sequence(b)[k], one[k], rtol=1e-14, atol=1e-15,
                                       err_msg=k)


def test_bad_inputs_are_named():
    model = init_model("relu", 1, 0)
    with pytest.raises(DyckError, match="position 1"):
        trace(model, "(x)")
    with pytest.raises(ValueError, match="at least one"):
        trace_batch(model, [])
    with pytest.raises(TypeError, match="list of sequences"):
        trace_batch(model, "(())")
    with pytest.raises(TypeError, match="CounterRNN"):
        trace(torch.nn.LSTM(2, 1), "()")
    with pytest.raises(ValueError, match="empty"):
        trace(model, "")
