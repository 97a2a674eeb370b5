"""counting.unrolled: the numba replica of the hidden-size-1 cells, and the long words it
serves (streamed evaluation, traces). Reference first: every value is checked against torch's
own modules (bit for bit where the arithmetic is the same) and against the plain torch step
loop of probes.unroll."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from counting import metrics
from counting.dyck import DyckError, tokens
from counting.generators import uniform_word, zigzag
from counting.models import CELLS, init_model, pad_batch
from counting.unrolled import CellReplica, tanh_address, verify_points
from probes import trace, trace_batch
from probes.unroll import CELL_KEYS, unroll_torch

SCALES = (1.0, 4.0, 30.0)  # weights x scale: from PyTorch's init to saturated gates


def scaled_model(cell, dtype, seed, scale):
    model = init_model(cell, 1, seed, dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def module_h(model, seq):
    x, _ = pad_batch([seq], model.dtype)
    with torch.no_grad():
        h, _ = model.rnn(x)
    return h[0, :, 0].numpy()


def test_torch_tanh_is_reachable_and_verified():
    for dtype in ("float32", "float64"):
        assert tanh_address(dtype) is not None, "torch's MKL tanh not found: the replica is off"
        x = verify_points(dtype)
        assert x.dtype == np.dtype(dtype) and np.isnan(x).any() and (np.abs(x) > 19).any()


@settings(max_examples=30, deadline=None)
@given(cell=st.sampled_from(CELLS), dtype=st.sampled_from(["float64", "float32"]),
       seed=st.integers(0, 10**6), scale=st.sampled_from(SCALES), n=st.integers(1, 400))
def test_replica_h_equals_the_module_bit_for_bit(cell, dtype, seed, scale, n):
    """h of the replica == nn.LSTM / nn.GRU / nn.RNN's h exactly (float32 nn.LSTM runs
    oneDNN, whose gates differ: there the replica equals torch's step loop instead)."""
    model = scaled_model(cell, dtype, seed, scale)
    seq = uniform_word(np.random.default_rng(seed), 2 * n)
    replica = CellReplica.of(model)
    h = replica.run(tokens(seq), replica.zero_state())[-1]
    if cell == "lstm" and dtype == "float32":
        want = unroll_torch(model, tokens(seq)[None])["h"][0, :, 0]
    else:
        want = module_h(model, seq)
    assert np.array_equal(h, want, equal_nan=True)


@settings(max_examples=20, deadline=None)
@given(cell=st.sampled_from(CELLS), dtype=st.sampled_from(["float64", "float32"]),
       seed=st.integers(0, 10**6), scale=st.sampled_from(SCALES))
def test_every_gate_equals_torchs_step_loop_bit_for_bit(cell, dtype, seed, scale):
    model = scaled_model(cell, dtype, seed, scale)
    tok = tokens(uniform_word(np.random.default_rng(seed), 300))
    replica = CellReplica.of(model)
    got = replica.run(tok, replica.zero_state())
    want = unroll_torch(model, tok[None])
    for j, k in enumerate(CELL_KEYS[cell]):
        assert np.array_equal(got[j], want[k][0, :, 0], equal_nan=True), k


@pytest.mark.parametrize("cell", CELLS)
def test_chunks_carry_the_state(cell):
    model = scaled_model(cell, "float64", 5, 4.0)
    tok = tokens(zigzag(250, 3000))
    replica = CellReplica.of(model)
    whole = replica.run(tok, replica.zero_state())
    state = replica.zero_state()
    parts = [replica.run(tok[s:e], state) for s, e in ((0, 1), (1, 777), (777, 2048),
                                                        (2048, 3000))]
    assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_the_replica_declines_what_it_cannot_replicate():
    assert "hidden size 2" in CellReplica.why_not(init_model("lstm", 2, 0, "float64"))
    assert CellReplica.of(init_model("gru", 3, 0, "float64")) is None


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_streamed_evaluation_equals_the_batched_one(cell, dtype, monkeypatch):
    """Words over LONG_WORD tokens are streamed in chunks: same FPFs, same loss (to
    rounding) as the module run on the whole word at once."""
    rng = np.random.default_rng(1)
    words = [uniform_word(rng, 3000), zigzag(300, 2400), "()" * 1500]
    model = scaled_model(cell, dtype, 2, 3.0)
    monkeypatch.setattr(metrics, "CHUNK", 512)
    monkeypatch.setattr(metrics, "LONG_WORD", 10**9)
    whole = metrics.evaluate(model, words)
    monkeypatch.setattr(metrics, "LONG_WORD", 1000)
    streamed = metrics.evaluate(model, words)
    assert streamed["fpfs"] == whole["fpfs"]
    assert streamed["loss"] == pytest.approx(whole["loss"], rel=1e-12 if dtype == "float64"
                                             else 1e-6)


def test_streamed_evaluation_of_a_model_the_replica_cannot_run(monkeypatch):
    model = init_model("gru", 2, 4, "float64")  # hidden size 2: streamed through the module
    words = [zigzag(100, 2000)]
    monkeypatch.setattr(metrics, "CHUNK", 300)
    monkeypatch.setattr(metrics, "LONG_WORD", 10**9)
    whole = metrics.evaluate(model, words)
    monkeypatch.setattr(metrics, "LONG_WORD", 10)
    streamed = metrics.evaluate(model, words)
    assert streamed["fpfs"] == whole["fpfs"]
    assert streamed["loss"] == pytest.approx(whole["loss"], rel=1e-12)


def test_exact_constructions_stay_exact_over_a_long_word():
    """Saturated gates stay exactly 1.0 in the replica: the exact counters count a word of
    200,000 tokens without an error (a leak of one ulp would show)."""
    import constructions

    word = zigzag(50_000, 200_000)
    for cell in ("lstm", "relu"):
        model = constructions.exact_counter(cell)
        tr = trace(model, word)
        assert np.array_equal(tr.counter, tr.depth.astype(np.float64))
        assert metrics.evaluate(model, [word])["fpfs"] == [len(word)]


def test_traces_reject_words_that_go_below_depth_zero_but_take_prefixes():
    model = init_model("relu", 1, 0, "float64")
    with pytest.raises(DyckError, match="depth goes negative at position 2"):
        trace(model, "())")
    with pytest.raises(DyckError, match="sequence 1: depth goes negative"):
        trace_batch(model, ["()", ")("])
    tr = trace(model, "((()")  # a prefix (final depth 2) is fine
    assert tr.depth.tolist() == [1, 2, 3, 2]


@pytest.mark.slow
def test_cli_eval_and_diagnose_of_a_long_word(tmp_path, capsys):
    """`counting eval` / `diagnose` on a data directory holding one word of 10^5 tokens."""
    import json

    import constructions
    from counting.checkpoint import save_checkpoint
    from counting.cli import main
    from counting.fileformat import write_sequences

    word = zigzag(25_000, 100_000)
    write_sequences(tmp_path / "very_long.txt", [word])
    save_checkpoint(constructions.leaky_counter("lstm", 1e-6), tmp_path / "m.pt")
    assert main(["eval", str(tmp_path / "m.pt"), "--data", str(tmp_path), "--json",
                 str(tmp_path / "e.json")]) == 0
    res = json.loads((tmp_path / "e.json").read_text())["very_long"]
    model = constructions.leaky_counter("lstm", 1e-6)
    tr = trace(model, word)
    right = (tr.out[:, 0] > 0.5) & ((tr.out[:, 1] > 0.5) == (tr.depth > 0))
    wrong = np.flatnonzero(~right)
    assert res["fpf"] == (wrong[0] if wrong.size else len(word))  # the trace agrees
    assert main(["diagnose", str(tmp_path / "m.pt"), "--data", str(tmp_path)]) == 0
    assert "very_long: 1 of 1 sequences fail" in capsys.readouterr().out
