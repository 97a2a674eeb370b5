"""Constructions of hidden size H > 1: the hidden-size-1 counter in unit 0, units 1..H-1
inert. Checked against the hidden-size-1 construction bit for bit (outputs and unit 0), the
inert units against their derived values (state exactly 0; LSTM i = f = o = 0.5, g = 0;
GRU r = z = 0.5, n = 0; ReLU pre = 0), and by `counting.metrics.evaluate` on every set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import constructions
from counting.checkpoint import load_checkpoint
from counting.cli import main
from counting.datasets import make_datasets
from counting.generators import nested, uniform_word, zigzag
from counting.metrics import evaluate
from counting.models import pad_batch
from probes import trace_batch

BUILDERS = {
    "exact lstm": lambda dtype, H: constructions.exact_counter("lstm", dtype, hidden_size=H),
    "exact relu": lambda dtype, H: constructions.exact_counter("relu", dtype, hidden_size=H),
    "leaky lstm": lambda dtype, H: constructions.leaky_counter("lstm", 1e-3, dtype,
                                                               hidden_size=H),
    "leaky gru": lambda dtype, H: constructions.leaky_counter("gru", 1e-3, dtype,
                                                              hidden_size=H),
    "mismatched relu": lambda dtype, H: constructions.mismatched_relu(
        up=1.0, down=0.97, w_hh=0.999, dtype=dtype, hidden_size=H),
}
INERT_GATES = {"lstm": {"i": 0.5, "f": 0.5, "g": 0.0, "o": 0.5},
               "gru": {"r": 0.5, "z": 0.5, "n": 0.0}, "relu": {"pre": 0.0}}


def words():
    rng = np.random.default_rng(5)
    return [zigzag(25, 1000), nested(300), *(uniform_word(rng, 500) for _ in range(3)), "()"]


@pytest.fixture(scope="module")
def smoke():
    return make_datasets("smoke", progress=False)


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("H", range(1, 9))
def test_exact_counter_of_any_hidden_size_is_perfect_on_every_smoke_set(cell, dtype, H, smoke):
    model = constructions.exact_counter(cell, dtype, hidden_size=H)
    assert model.hidden_size == H and model.dtype == dtype and model.cell == cell
    for name, seqs in smoke.items():
        res = evaluate(model, seqs)
        assert res["accuracy"] == 100.0 and res["fully_right"] == res["n"], name


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("H", [2, 3, 8])
@torch.no_grad()
def test_unit_zero_is_the_hidden_size_one_counter_and_the_rest_stay_zero(name, dtype, H):
    one, big = BUILDERS[name](dtype, 1), BUILDERS[name](dtype, H)
    assert big.hidden_size == H and big.construction == one.construction
    x, _ = pad_batch(words(), dtype)
    h1, _ = one.rnn(x)
    hH, _ = big.rnn(x)
    assert torch.equal(hH[..., :1], h1) and not torch.any(hH[..., 1:])
    assert torch.equal(big(x), one(x))  # the outputs, bit for bit
    # the unrolled trace: unit 0 equals the hidden-size-1 trace, inert units as derived
    tb1, tb = trace_batch(one, words()), trace_batch(big, words())
    m = tb.mask
    for key, v in tb.arrays.items():
        if key in ("out", "token", "depth"):
            assert np.array_equal(v, tb1[key], equal_nan=True), key
            continue
        assert np.array_equal(v[..., 0][m], tb1[key][..., 0][m]), key
        want = INERT_GATES[big.cell].get(key, 0.0)  # c, h: exactly 0
        assert np.all(v[..., 1:][m] == want), key


@torch.no_grad()
def counter_steps(model, seq: str, counter0: float) -> tuple[list[float], torch.Tensor]:
    """Run `model` token by token from counter0 in unit 0 (LSTM: c = counter0, h = 1 = o
    tanh(c); ReLU: h = counter0), other units 0 -> (unit 0's counter after every token,
    all hidden states (T, H))."""
    x, _ = pad_batch([seq], model.dtype)
    H = model.hidden_size
    h = torch.zeros(1, 1, H, dtype=model.dtype)
    c = torch.zeros_like(h)
    if model.cell == "lstm":
        h[0, 0, 0], c[0, 0, 0] = 1.0, counter0
    else:
        h[0, 0, 0] = counter0
    counter, hs = [], []
    for t in range(len(seq)):
        if model.cell == "lstm":
            out, (h, c) = model.rnn(x[:, t : t + 1], (h, c))
            counter.append(c[0, 0, 0].item())
            assert not torch.any(c[..., 1:])
        else:
            out, h = model.rnn(x[:, t : t + 1], h)
            counter.append(h[0, 0, 0].item())
        hs.append(out[0, 0])
    return counter, torch.stack(hs)


@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_float32_limit_is_the_hidden_size_one_limit(cell):
    """From counter 2^24 - 2 in unit 0, four '(' stick at 2^24 (2^24 + 1 rounds to even),
    in hidden size 8 exactly as in hidden size 1; the ')'s then step down from 2^24."""
    p = float(2**24)
    seq = "(((())"
    one = constructions.exact_counter(cell, torch.float32)
    big = constructions.exact_counter(cell, torch.float32, hidden_size=8)
    k1, h1 = counter_steps(one, seq, p - 2)
    k8, h8 = counter_steps(big, seq, p - 2)
    assert k8 == k1 == [p - 1, p, p, p, p - 1, p - 2]
    assert torch.equal(h8[:, :1], h1) and not torch.any(h8[:, 1:])
    assert torch.equal(torch.sigmoid(big.readout(h8)), torch.sigmoid(one.readout(h1)))


def test_bad_hidden_size():
    for H in (0, -1, 2.0, True, None):
        with pytest.raises(ValueError, match="hidden_size must be an int >= 1"):
            constructions.exact_counter("relu", hidden_size=H)
    with pytest.raises(ValueError, match="hidden_size"):
        constructions.leaky_counter("gru", 0.01, hidden_size=0)
    with pytest.raises(ValueError, match="hidden_size"):
        constructions.mismatched_relu(hidden_size=0)


# ------------------------------------------------------------------------------ CLI
def test_construct_hidden_size_writes_a_perfect_checkpoint(tmp_path, capsys, smoke):
    from counting.datasets import write_datasets

    write_datasets(tmp_path / "data", smoke)
    ckpt, js = tmp_path / "m.pt", tmp_path / "eval.json"
    assert main(["construct", "--cell", "lstm", "--hidden-size", "5", "--out", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "hidden size 5" in out and "maximum correct nesting depth 9,007,199,254,740,992" in out
    model, meta = load_checkpoint(ckpt)
    assert model.hidden_size == 5 and meta["construction"] == "exact"
    assert main(["eval", str(ckpt), "--data", str(tmp_path / "data"), "--json", str(js)]) == 0
    import json

    res = json.loads(js.read_text())
    assert set(res) == set(smoke)
    assert all(m["accuracy"] == 100.0 for m in res.values())
    assert main(["construct", "--cell", "gru", "--eps", "0.001", "--hidden-size", "3",
                 "--out", str(ckpt)]) == 0
    assert "maximum correct nesting depth 22" in capsys.readouterr().out  # as hidden size 1
    assert load_checkpoint(ckpt)[0].hidden_size == 3


@pytest.mark.parametrize("value", ["0", "9", "two"])
def test_construct_hidden_size_out_of_range_is_one_line(value, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["construct", "--cell", "relu", "--out", str(out), "--hidden-size", value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("counting construct: error: argument --hidden-size:")
    assert "\n" not in err and not out.exists()


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_exact_counters_of_every_hidden_size_are_perfect_on_the_paper_sets():
    paper = make_datasets("paper", progress=False)
    for cell in ("lstm", "relu"):
        for dtype in (torch.float64, torch.float32):
            for H in range(1, 9):
                model = constructions.exact_counter(cell, dtype, hidden_size=H)
                names = list(paper) if H in (2, 8) else ["very_long", "zigzag"]
                for name in names:
                    res = evaluate(model, paper[name])
                    assert res["fully_right"] == res["n"], (cell, dtype, H, name)
                    assert res["accuracy"] == 100.0
