"""The engine's kernels against torch in float64: Adam bit for bit, BPTT gradients of single
words to 1e-12, parameters after 100 online Adam steps to 1e-12 (all cells, both losses)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from counting.dyck import one_hot, targets
from counting.engine.adam import adam_step
from counting.engine.backend import FastBackend
from counting.engine.layout import CELL_IDS, P_MAX, n_params, pack, unpack
from counting.engine.losses import loss_id
from counting.engine.train import scratch, sequence_grad
from counting.generators import uniform_word
from counting.models import CELLS, init_model
from counting.training import ReferenceBackend, TrainConfig

LOSSES = ("mse", "bce")


def torch_grad(model, word: str, loss: str) -> tuple[float, np.ndarray]:
    """(loss, flat gradient in `layout` order) of one word by torch autograd."""
    model.zero_grad()
    x = torch.as_tensor(one_hot(word)).unsqueeze(0)
    y = torch.as_tensor(targets(word)).unsqueeze(0)
    fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.BCELoss()
    value = fn(model(x), y)
    value.backward()
    return value.item(), np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])


def engine_grad(model, word: str, loss: str) -> tuple[float, np.ndarray]:
    p = np.zeros(P_MAX)
    p[: n_params(model.cell)] = pack(model)
    toks = np.array([0 if ch == "(" else 1 for ch in word], dtype=np.int8)
    S, grad = scratch(len(word))
    value = sequence_grad(CELL_IDS[model.cell], 1, p, loss_id(loss), toks, 0, len(word), S, grad)
    return value, grad[: n_params(model.cell)].copy()


def test_layout_round_trip():
    for cell in CELLS:
        model = init_model(cell, 1, 7, "float64")
        vec = pack(model)
        assert vec.shape == (n_params(cell),)
        back = unpack(vec, cell)
        for a, b in zip(model.parameters(), back.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", LOSSES)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), half=st.integers(1, 40), word_seed=st.integers(0, 2**32 - 1))
def test_single_word_gradients_match_torch(cell, loss, seed, half, word_seed):
    word = uniform_word(np.random.default_rng(word_seed), 2 * half)
    model = init_model(cell, 1, seed, "float64")
    # scale weights up so that gates saturate and BCE's clamps are exercised too
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + seed % 4)
    ref_loss, ref = torch_grad(model, word, loss)
    got_loss, got = engine_grad(model, word, loss)
    assert abs(got_loss - ref_loss) <= 1e-12 * max(1.0, abs(ref_loss))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_adam_matches_torch_single_tensor_adam(cell):
    """Same gradient stream into torch.optim.Adam(foreach=False) and the kernel: moments
    equal bit for bit at every step; parameters within a few ulps (torch's sqrt is MKL's)."""
    model = init_model(cell, 1, 3, "float64")
    opt = torch.optim.Adam(model.parameters(), lr=0.01, foreach=False)
    p = np.zeros(P_MAX)
    n = n_params(cell)
    p[:n] = pack(model)
    m, v = np.zeros(P_MAX), np.zeros(P_MAX)
    rng = np.random.default_rng(0)
    for step in range(1, 101):
        g = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 2)
        i = 0
        for prm in model.parameters():
            prm.grad = torch.as_tensor(g[i : i + prm.numel()].copy()).reshape(prm.shape)
            i += prm.numel()
        opt.step()
        grad = np.zeros(P_MAX)
        grad[:n] = g
        adam_step(p, grad, m, v, n, float(step), 0.01)
        for name, mine in (("exp_avg", m), ("exp_avg_sq", v)):
            theirs = np.concatenate([opt.state[q][name].reshape(-1).numpy()
                                     for q in model.parameters()])
            assert np.array_equal(mine[:n], theirs), f"{name} differs at step {step}"
        np.testing.assert_allclose(p[:n], pack(model), rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", LOSSES)
def test_100_online_adam_steps_match_reference(cell, loss, smoke_sets):
    words = smoke_sets["train"]
    cfg = TrainConfig(cell=cell, loss=loss, seed=5)
    ref = ReferenceBackend(init_model(cell, 1, 5, "float64"), words, cfg)
    fast = FastBackend(init_model(cell, 1, 5, "float64"), words, cfg)
    order = np.random.default_rng(1).permutation(len(words))[:100]
    a, b = ref.train_epoch(order), fast.train_epoch(order)
    assert abs(a - b) <= 1e-12 * max(1.0, abs(a))
    np.testing.assert_allclose(fast.params[: fast.n], pack(ref.model), rtol=0, atol=1e-12)
    assert fast.step == 100.0


def test_vexp_vsigmoid_vtanh_accuracy():
    """The evaluation kernel's branch-free exp: within 1 ulp of libm's over its range, NaN
    kept, saturating (not overflowing) outside; sigmoid on it within 2 ulps, tanh within
    3e-16 absolute (relative accuracy is lost near 0, as documented)."""
    from numba import njit

    from counting.engine.mathfn import vexp, vsigmoid, vtanh

    @njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[0, i] = vexp(x[i])
            out[1, i] = vsigmoid(x[i])
            out[2, i] = vtanh(x[i])

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-708, 709, 50_000), rng.uniform(-8, 8, 50_000),
                        rng.uniform(-1e-6, 1e-6, 1000), [0.0, -0.0]])
    out = np.empty((3, x.size))
    apply(x, out)
    assert np.max(np.abs(out[0] - np.exp(x)) / np.spacing(np.exp(x))) <= 1.0
    sig = 1 / (1 + np.exp(-x))
    assert np.all(np.abs(out[1] - sig) <= 2 * np.spacing(sig))
    assert np.max(np.abs(out[2] - np.tanh(x))) <= 3e-16
    special = np.array([np.nan, np.inf, -np.inf, 800.0, -800.0])
    out = np.empty((3, special.size))
    apply(special, out)
    assert np.isnan(out[:, 0]).all()
    assert np.isfinite(out[0, 1:]).all() and out[0, 2] < 1e-307
    np.testing.assert_array_equal(out[1, 1:], [1.0, 0.0 + out[1, 2], 1.0, out[1, 4]])
    assert out[1, 2] < 1e-307 and out[1, 4] < 1e-307
    np.testing.assert_array_equal(out[2, 1:], [1.0, -1.0, 1.0, -1.0])


@pytest.fixture(scope="module")
def smoke_sets():
    from counting.datasets import make_datasets

    return make_datasets("smoke", seed=0, progress=False)
