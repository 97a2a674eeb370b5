"""The training options (batch size, clip, weight decay, L1, inits) in the engine against the
torch reference, float64, with the engine's tolerances: gradients within 1e-12, parameters
after 100 Adam steps within 1e-12, 2-epoch runs with the same best epoch and history within
1e-9; and default options bit for bit as online training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numba import njit

from counting.datasets import make_datasets
from counting.dyck import one_hot, targets
from counting.engine import FastBackend
from counting.engine.adam import adam_step
from counting.engine.layout import CELL_IDS, P_MAX, n_params, pack
from counting.engine.losses import loss_id
from counting.engine.train import scratch, sequence_grad
from counting.engine.update import N_OPTS, accumulate, adjust, batch_mean, options_vector
from counting.inits import initial_model
from counting.models import CELLS, init_model
from counting.training import ReferenceBackend, TrainConfig, run_training

# Each option alone, with values that make it act (clip 0.05 is below the gradient norms
# of these runs; the tests check that every option changes the result), then all together.
OPTIONS = {
    "batch": {"batch_size": 7},
    "clip": {"clip": 0.05},
    "weight_decay": {"weight_decay": 0.01},
    "l1": {"l1": 0.001},
    "all": {"batch_size": 4, "clip": 0.05, "weight_decay": 1e-3, "l1": 1e-3},
}
INIT_OPTIONS = {
    "lstm": [{"init": "construction", "init_noise": 0.1}, {"forget_bias": 3.0},
             {"init": "construction", "init_noise": 0.05, "forget_bias": 2.0, "clip": 1.0}],
    "relu": [{"init": "irnn"}, {"init": "construction", "init_noise": 0.1}],
    "gru": [],
}


@pytest.fixture(scope="module")
def words():
    return make_datasets("smoke", seed=0, progress=False)["train"]


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=3, progress=False)
    return {"train": s["train"][:80], "validation": s["validation"][:40], "long": s["long"][:15]}


def torch_adjusted_grad(model, batch: list[str], loss: str, config: TrainConfig) -> np.ndarray:
    """The gradient the reference hands to Adam for one batch (batch mean, L1, clipping), in
    `layout` order, computed as `ReferenceBackend.train_epoch` computes it."""
    ref = ReferenceBackend(model, batch, config)
    params = list(model.parameters())
    model.zero_grad()
    losses = [ref.loss_fn(model(ref.inputs[k]), ref.targets[k]) for k in range(len(batch))]
    objective = losses[0] if len(losses) == 1 else torch.stack(losses).sum() / len(losses)
    if config.l1:
        objective = objective + config.l1 * torch.stack([p.abs().sum() for p in params]).sum()
    objective.backward()
    if config.clip is not None:
        torch.nn.utils.clip_grad_norm_(params, config.clip)
    return np.concatenate([p.grad.reshape(-1).numpy() for p in params])


def engine_adjusted_grad(model, batch: list[str], loss: str, config: TrainConfig) -> np.ndarray:
    """The same with the engine's pieces: sequence_grad per word, accumulate, batch_mean,
    adjust (weight decay off: it acts inside Adam and is tested through the steps)."""
    n = n_params(model.cell)
    p = np.zeros(P_MAX)
    p[:n] = pack(model)
    S, grad = scratch(max(len(w) for w in batch))
    acc = np.zeros(P_MAX)
    for j, w in enumerate(batch):
        toks = np.array([0 if ch == "(" else 1 for ch in w], dtype=np.int8)
        sequence_grad(CELL_IDS[model.cell], 1, p, loss_id(loss), toks, 0, len(w), S, grad)
        if len(batch) > 1:
            accumulate(acc, grad, n, j == 0)
    if len(batch) > 1:
        batch_mean(grad, acc, n, float(len(batch)))
    adjust(p, grad, n, options_vector(config))
    return grad[:n].copy()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_l1_clip_gradients_match_torch(cell, loss, seed, words):
    rng = np.random.default_rng(seed)
    batch = [words[k] for k in rng.choice(len(words), 5, replace=False)]
    for opts in ({"batch_size": 5}, {"l1": 0.01}, {"clip": 0.05},
                 {"batch_size": 5, "l1": 0.01, "clip": 0.05}):
        config = TrainConfig(cell=cell, loss=loss, **opts)
        model = init_model(cell, 1, seed, "float64")
        with torch.no_grad():  # larger weights too: saturated gates, BCE's clamps
            for prm in model.parameters():
                prm.mul_(1 + seed)
            model.rnn.bias_hh_l0[0] = 0.0  # sign(0) = 0 in the L1 gradient
        words_used = batch if "batch_size" in opts else batch[:1]
        want = torch_adjusted_grad(model, words_used, loss, config)
        got = engine_adjusted_grad(model, words_used, loss, config)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=str(opts))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("name", list(OPTIONS))
def test_100_adam_steps_with_options_match_reference(cell, name, words):
    """100 words in batches (or 100 online steps): online loss and parameters within 1e-12;
    and the option changed the parameters (it is not silently ignored)."""
    order = np.random.default_rng(1).permutation(len(words))[:100]
    results = {}
    for key, opts in (("plain", {}), (name, OPTIONS[name])):
        cfg = TrainConfig(cell=cell, seed=5, **opts)
        ref = ReferenceBackend(initial_model(cfg), words, cfg)
        fast = FastBackend(initial_model(cfg), words, cfg)
        a, b = ref.train_epoch(order), fast.train_epoch(order)
        assert abs(a - b) <= 1e-12 * max(1.0, abs(a))
        np.testing.assert_allclose(fast.params[: fast.n], pack(ref.model), rtol=0, atol=1e-12)
        assert fast.step == math.ceil(100 / cfg.batch_size)
        results[key] = fast.params[: fast.n].copy()
    assert np.max(np.abs(results[name] - results["plain"])) > 1e-6, "the option had no effect"


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_100_adam_steps_bce_and_inits_match_reference(loss, words):
    order = np.random.default_rng(2).permutation(len(words))[:100]
    for cell in CELLS:
        for opts in INIT_OPTIONS[cell] + [OPTIONS["all"]]:
            cfg = TrainConfig(cell=cell, seed=7, loss=loss, **opts)
            ref = ReferenceBackend(initial_model(cfg), words, cfg)
            fast = FastBackend(initial_model(cfg), words, cfg)
            a, b = ref.train_epoch(order), fast.train_epoch(order)
            assert abs(a - b) <= 1e-12 * max(1.0, abs(a)), (cell, opts)
            np.testing.assert_allclose(fast.params[: fast.n], pack(ref.model), rtol=0,
                                       atol=1e-12, err_msg=f"{cell} {opts}")


@njit
def online_epoch_as_before(cell, p, m, v, step, lr, loss, toks, offs, order, S, grad):
    """The engine's online epoch as it was before the training options (the oracle of
    'today's results')."""
    npar = 24 if cell == 0 else (9 if cell == 1 else 19)
    total = 0.0
    for j in range(order.shape[0]):
        s = order[j]
        start = offs[s]
        value = sequence_grad(cell, 1, p, loss, toks, start, offs[s + 1] - start, S, grad)
        step += 1.0
        adam_step(p, grad, m, v, npar, step, lr)
        if not math.isfinite(value):
            return value, step
        total += value
    return total / max(order.shape[0], 1), step


def reference_epoch_as_before(model, words, order, lr, loss):
    """ReferenceBackend.train_epoch as it was before the training options."""
    inputs = [torch.as_tensor(one_hot(s)).unsqueeze(0) for s in words]
    tgts = [torch.as_tensor(targets(s)).unsqueeze(0) for s in words]
    fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.BCELoss()
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    total = 0.0
    for k in order:
        opt.zero_grad()
        value = fn(model(inputs[k]), tgts[k])
        value.backward()
        opt.step()
        total += value.item()
    return total / len(order)


@pytest.mark.parametrize("cell", CELLS)
def test_batch_1_large_clip_no_penalties_is_online_training_bit_for_bit(cell, words):
    order = np.random.default_rng(4).permutation(len(words))
    neutral = {"batch_size": 1, "clip": 1e300, "weight_decay": 0.0, "l1": 0.0}
    # engine: the default options and the neutral ones, against the old online loop
    fb = FastBackend(init_model(cell, 1, 9, "float64"), words, TrainConfig(cell=cell))
    p = np.zeros(P_MAX)
    p[: fb.n] = pack(init_model(cell, 1, 9, "float64"))
    m, v = np.zeros(P_MAX), np.zeros(P_MAX)
    want, _ = online_epoch_as_before(CELL_IDS[cell], p, m, v, 0.0, fb.lr, fb.loss, fb.toks,
                                     fb.offs, order, *scratch(60))
    for opts in ({}, neutral):
        cfg = TrainConfig(cell=cell, **opts)
        fb = FastBackend(init_model(cell, 1, 9, "float64"), words, cfg)
        assert fb.train_epoch(order) == want
        assert np.array_equal(fb.params, p) and np.array_equal(fb.m, m)
        assert np.array_equal(fb.v, v)
    # reference: the same
    old = init_model(cell, 1, 9, "float64")
    want = reference_epoch_as_before(old, words, order[:60], TrainConfig(cell=cell).lr, "mse")
    for opts in ({}, neutral):
        cfg = TrainConfig(cell=cell, **opts)
        rb = ReferenceBackend(init_model(cell, 1, 9, "float64"), words, cfg)
        assert rb.train_epoch(order[:60]) == want
        for a, b in zip(rb.model.parameters(), old.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("hidden", [2, 5])
def test_options_with_hidden_size_above_1_match_reference(cell, hidden, words):
    """The options act on the flat vectors of any hidden size: 60 words in batches of 4 with
    clip, weight decay and L1, engine against reference (the multi-cell engine's tolerance,
    1e-10 after the steps; its sums run in another order than torch's)."""
    order = np.random.default_rng(3).permutation(len(words))[:60]
    opts = {**OPTIONS["all"], **({"init": "irnn"} if cell == "relu" else {}),
            **({"forget_bias": 2.0} if cell == "lstm" else {})}
    cfg = TrainConfig(cell=cell, hidden_size=hidden, seed=11, **opts)
    ref = ReferenceBackend(initial_model(cfg), words, cfg)
    fast = FastBackend(initial_model(cfg), words, cfg)
    a, b = ref.train_epoch(order), fast.train_epoch(order)
    assert abs(a - b) <= 1e-10 * max(1.0, abs(a))
    ref_p = np.concatenate([q.detach().reshape(-1).numpy() for q in ref.model.parameters()])
    np.testing.assert_allclose(fast.params[: fast.n], ref_p, rtol=0, atol=1e-10)
    assert fast.step == 15


def test_a_batch_larger_than_the_epoch_is_one_step():
    words = ["()", "(())", "()()"]
    cfg = TrainConfig(cell="relu", batch_size=10)
    fb = FastBackend(init_model("relu", 1, 0, "float64"), words, cfg)
    rb = ReferenceBackend(init_model("relu", 1, 0, "float64"), words, cfg)
    order = np.array([2, 0, 1])
    assert math.isclose(fb.train_epoch(order), rb.train_epoch(order), rel_tol=1e-12)
    assert fb.step == 1.0 and fb.opts.shape == (N_OPTS,)
    np.testing.assert_allclose(fb.params[: fb.n], pack(rb.model), rtol=0, atol=1e-12)


def strip(h):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in h["epochs"]]


def _run_pair(tmp_path, sets, cfg):
    ref = run_training(cfg, sets, tmp_path / "ref", ReferenceBackend, progress=False)
    fast = run_training(cfg, sets, tmp_path / "fast", FastBackend, progress=False)
    assert fast["config"] == ref["config"]
    assert fast["best_epoch"] == ref["best_epoch"]
    for ra, rb in zip(strip(ref), strip(fast), strict=True):
        assert sorted(ra) == sorted(rb)
        for k, v in ra.items():
            assert math.isclose(v, rb[k], rel_tol=1e-9, abs_tol=1e-9), (k, v, rb[k])
    return ref, fast


@pytest.mark.parametrize("cell", CELLS)
def test_two_epoch_runs_with_options_match_reference(tmp_path, sets, cell):
    for j, opts in enumerate(INIT_OPTIONS[cell] + [OPTIONS["all"]]):
        cfg = TrainConfig(cell=cell, epochs=2, seed=11, checkpoint_epochs=(1,), **opts)
        data = sets
        if cell == "relu" and opts.get("init") == "construction":
            # Online training of this ReLU is chaotic: the reference against itself, with one
            # input weight moved by 1 ulp, differs by 3e-13 after 80 steps and by 1e-10
            # after 94 (measured) - so a short horizon here: 40 words x 2 epochs.
            data = {**sets, "train": sets["train"][:40]}
        ref, _ = _run_pair(tmp_path / str(j), data, cfg)
        for k, v in opts.items():
            assert ref["config"][k] == v  # recorded in history.json's config


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_longer_runs_with_options_match_reference(tmp_path, cell):
    """5 epochs on the whole smoke profile with every loop option, and the cell's inits."""
    full = make_datasets("smoke", seed=6, progress=False)
    full = {k: full[k] for k in ("train", "validation", "long")}
    for j, opts in enumerate(INIT_OPTIONS[cell][:1] + [OPTIONS["all"]]):
        cfg = TrainConfig(cell=cell, epochs=5, seed=12, **opts)
        _run_pair(tmp_path / str(j), full, cfg)



def test_weight_decay_arithmetic_is_torchs_bit_for_bit():
    """Given the same gradient, `adjust` decays exactly as torch Adam's fused
    grad.add(param, alpha=W)."""
    rng = np.random.default_rng(0)
    p, got = np.zeros(P_MAX), np.zeros(P_MAX)
    opts = options_vector(TrainConfig(weight_decay=1e-4 * 3.7))
    for _ in range(50):
        w, gr = rng.standard_normal(24) * 10.0 ** rng.integers(-3, 3), rng.standard_normal(24)
        want = torch.as_tensor(gr).add(torch.as_tensor(w), alpha=1e-4 * 3.7).numpy()
        p[:24], got[:24] = w, gr
        adjust(p, got, 24, opts)
        assert np.array_equal(got[:24], want)
