"""paper_figs.stacked_forward: many models' outputs at once, against each model's own forward
and the probes' trace; the failure classification from those outputs against the probes'."""

import numpy as np
import pytest
import torch

from constructions import leaky_counter, mismatched_relu
from counting.dyck import one_hot
from counting.generators import conditioned_pcfg_word, zigzag
from counting.models import CounterRNN
from paper_figs.stacked_forward import stackable, stacked_outputs
from probes import classify_failures
from probes.tracing import trace_batch

WORDS = [zigzag(j, 240) for j in (3, 10, 40, 120)] + [
    conditioned_pcfg_word(np.random.default_rng(1), 100), "(()", "()"
]


def _models(cell, n=5):
    out = []
    for s in range(n):
        torch.manual_seed(s)
        m = CounterRNN(cell, 1, torch.float64)
        with torch.no_grad():  # larger weights than the default init: outputs far from 0.5
            for p in m.parameters():
                p.mul_(3.0)
        out.append(m)
    if cell == "relu":
        out.append(mismatched_relu(up=1.0, down=0.97))
    if cell in ("lstm", "gru"):
        out.append(leaky_counter(cell, 1e-2))
    return out


@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
def test_stacked_outputs_equal_each_models_forward_and_trace(cell):
    models = _models(cell)
    got = stacked_outputs(models, WORDS)
    T = max(map(len, WORDS))
    assert got.shape == (len(models), len(WORDS), T, 2)
    for i, m in enumerate(models):
        tr = trace_batch(m, WORDS)
        mask = tr.mask
        np.testing.assert_allclose(got[i][mask], tr["out"][mask], rtol=0, atol=1e-12)
        for b, w in enumerate(WORDS):
            with torch.no_grad():
                own = m(torch.from_numpy(one_hot(w))).numpy()
            np.testing.assert_allclose(got[i, b, : len(w)], own, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
def test_classification_from_stacked_outputs_equals_the_probes(cell):
    models = _models(cell)
    outs = stacked_outputs(models, WORDS)
    total = 0
    for m, out in zip(models, outs):
        expected = classify_failures(m, WORDS, "zigzag")
        assert classify_failures(m, WORDS, "zigzag", out=out) == expected
        total += len(expected)
    assert total > 0  # the comparison covered real failures


def test_classify_failures_checks_the_shape_of_out():
    m = _models("relu", 1)[0]
    with pytest.raises(ValueError, match="out must have shape"):
        classify_failures(m, WORDS, out=np.zeros((len(WORDS), 3, 2)))


def test_only_one_cell_hidden_size_1_float64_stacks():
    assert stackable(_models("gru", 2))
    assert not stackable([])
    assert not stackable(_models("gru", 1) + _models("lstm", 1))
    assert not stackable([CounterRNN("lstm", 2, torch.float64)])
    assert not stackable([CounterRNN("lstm", 1, torch.float32)])
    with pytest.raises(ValueError, match="one cell, hidden size 1, float64"):
        stacked_outputs([CounterRNN("lstm", 1, torch.float32)], WORDS)
