"""Every implementation of a cell's step (and of its gradient, where there is one) against
torch's nn.LSTM / nn.RNN / nn.GRU, on the same inputs, each with its declared tolerance.

The one definition is `counting.cells` (registry, layout, the generic steps and their
derivatives); the rows below are the places that run a cell: those that derive from the
definition and those that keep their own form (their docstrings say why). Adding a cell
means adding its registry entry and its rows; adding an implementation means adding a row.

Tolerances: EXACT (bit for bit, NaN and signed zeros included), a float (absolute and
relative, float64), ENCLOSE (a sound interval: the torch value lies inside).

    implementation                          form                              tolerance
    counting.cells generic step, float      the definition                    1e-12
      ... over torch's scalar kernels       the definition                    exact
      ... on torch tensors                  the definition                    exact
      ... on sympy (conditions)             the definition                    1e-12
    engine step / lane_step (H = 1)         the definition (own activations)  1e-12
    engine sequence_grad H = 1, H = 3       own (backward order; H > 1 rows)  1e-12
    counting.unrolled.CellReplica           the definition                    exact
    probes.unroll.unroll_torch (H = 1, 3)   the definition's parts            exact / 1e-12
    paper_figs.stacked_forward._step        the definition's parts            exact
    probes.worstcase.cells.replica          own (float32 emulated per op)     1e-12
    probes.worstcase.cells.image            own (monotone / mean-value)       enclosure
    probes.worstcase.wide replica (H 1, 3)  the definition                    exact / 1e-12
    probes.worstcase.wide image (H 1, 3)    own (error model per operation)   enclosure
    counting.gpu make_cell step, train_seq  the definition and derivative     1e-12
    conditions.counter_update               own ((1 - z) n + z h)             sympy-equal

(H = 3: the matrix products' summation order is the consumer's, so 1e-12.)

Inputs: for each cell, hidden size 1, float64, models of several seeds with their weights
scaled (x1, x3, x8: saturated gates too), run from the zero state over the same words;
torch's module is stepped one token at a time, carrying its state, so that every state
it passes through is an input of the next step for every row.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import sympy as sp
import torch

from counting.cells import CELLS, REGISTRY, arith, layout
from counting.cells import gru as cgru
from counting.cells import lstm as clstm
from counting.cells import relu as crelu
from counting.models import init_model

EXACT, ENCLOSE = "exact", "enclose"
SEEDS_SCALES = [(0, 1.0), (1, 3.0), (2, 8.0)]
T = 24
N_WORDS = 3


def _words():
    rng = np.random.default_rng(7)
    out = []
    for _ in range(N_WORDS):
        d, w = 0, []
        for _ in range(T):  # Dyck prefixes (depth >= 0: the readout's targets are defined)
            k = int(rng.integers(0, 2)) if d > 0 else 0
            d += 1 - 2 * k
            w.append(k)
        out.append(np.array(w, dtype=np.int64))
    return out


WORDS = _words()


def _model(cell, seed, scale, H=1, dtype="float64"):
    m = init_model(cell, H, seed, dtype)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(scale)
    return m


def _flat(m) -> np.ndarray:
    return np.concatenate([p.detach().double().reshape(-1).numpy() for p in m.parameters()])


@torch.no_grad()
def torch_states(m, word):
    """(T, H) h and (T, H) c (zeros but for the LSTM) of the module, one token at a time."""
    H = m.hidden_size
    h = torch.zeros(1, 1, H, dtype=m.dtype)
    c = torch.zeros(1, 1, H, dtype=m.dtype)
    hs, cs = [], []
    for k in word:
        x = torch.zeros(1, 1, 2, dtype=m.dtype)
        x[0, 0, k] = 1.0
        if m.cell == "lstm":
            _, (h, c) = m.rnn(x, (h, c))
        else:
            _, h = m.rnn(x, h)
        hs.append(h.reshape(-1).double().numpy().copy())
        cs.append(c.reshape(-1).double().numpy().copy())
    return np.array(hs), np.array(cs)


# ------------------------------------------------------------------ generic steps, H = 1
def _terms(p, cell, k, h):
    """(gh, gi) per gate from the flat layout, hidden size 1: W_hh[q] h + b_hh[q] and
    W_ih[q, k] + b_ih[q]."""
    o, G = layout.offsets(cell), REGISTRY[cell].G
    gh = [p[o["whh"] + q] * h + p[o["bhh"] + q] for q in range(G)]
    gi = [p[o["wih"] + 2 * q + k] + p[o["bih"] + q] for q in range(G)]
    return gh, gi


def run_generic(ar):
    step = ar.steps()

    def run(m, word):
        cell, p = m.cell, _flat(m)
        h, c, hs, cs = 0.0, 0.0, [], []
        for k in word:
            gh, gi = _terms(p, cell, int(k), h)
            if cell == "lstm":
                h, c = step[cell](None, gh, gi, c)[:2]
            elif cell == "gru":
                h = step[cell](None, gh, gi, h)[0]
            else:
                h = step[cell](None, gh, gi)[0]
            hs.append(float(h))
            cs.append(float(c))
        return np.array(hs)[:, None], np.array(cs)[:, None]

    return run


def _torch_kernel_arith():
    """The generic step over torch's own scalar kernels: its CPU sigmoid on one element
    (counting.unrolled.sigmoid's formula) and torch.tanh on a one-element tensor."""
    def sig(env, x):
        return 1.0 / (1.0 + math.exp(-x))

    def th(env, x):
        return float(torch.tanh(torch.tensor([x], dtype=torch.float64))[0])

    return arith.Arith("torch-kernels", sig, th, arith.FLOAT.relu)


def run_generic_tensor(m, word):
    """The generic step on torch tensors (torch.sigmoid, torch.tanh on one-element
    tensors)."""
    step = arith.get("torch").steps()[m.cell]
    p = torch.from_numpy(_flat(m))
    h = torch.zeros(1, dtype=torch.float64)
    c = torch.zeros(1, dtype=torch.float64)
    hs, cs = [], []
    for k in word:
        gh, gi = _terms(p, m.cell, int(k), h)
        if m.cell == "lstm":
            h, c = step(None, gh, gi, c)[:2]
        elif m.cell == "gru":
            h = step(None, gh, gi, h)[0]
        else:
            h = step(None, gh, gi)[0]
        hs.append(h.numpy().copy())
        cs.append(c.numpy().copy())
    return np.array(hs), np.array(cs)


def run_sympy(m, word):
    """constructions.conditions.cell_update (the generic step on sympy symbols), lambdified
    with sigma = 1 / (1 + exp(-x))."""
    from constructions import conditions as cond

    upd = cond.cell_update(m.cell)
    state = m.state_dict()
    vals = {s: float(state[n][i]) for s, (n, i) in cond.weight_symbols(m.cell).items()}
    fns = {key: sp.lambdify([cond.h, cond.c, cond.x0, cond.x1], e.subs(vals),
                            modules=[{"sigma": lambda x: 1.0 / (1.0 + np.exp(-x))}, "numpy"])
           for key, e in upd.items()}
    h, c, hs, cs = 0.0, 0.0, [], []
    for k in word:
        x0, x1 = (1.0, 0.0) if k == 0 else (0.0, 1.0)
        h2 = float(fns["h"](h, c, x0, x1))
        c = float(fns["c"](h, c, x0, x1)) if "c" in fns else 0.0
        h = h2
        hs.append(h)
        cs.append(c)
    return np.array(hs)[:, None], np.array(cs)[:, None]


# ------------------------------------------------------------------ consumers
def run_engine_step(m, word):
    """counting.engine.<cell>.step (numba, hidden size 1; its own tanh)."""
    import counting.engine.gru as eg
    import counting.engine.lstm as el
    import counting.engine.relu as er

    p = _flat(m)
    h, c, hs, cs = 0.0, 0.0, [], []
    for k in word:
        if m.cell == "lstm":
            h, c = el.step(p, int(k), h, c)[:2]
        elif m.cell == "gru":
            h = eg.step(p, int(k), h)[0]
        else:
            h = er.step(p, int(k), h)
        hs.append(h)
        cs.append(c)
    return np.array(hs)[:, None], np.array(cs)[:, None]


def run_engine_lane(m, word):
    """counting.engine.<cell>.lane_step (numba, the evaluation kernel's vexp)."""
    import counting.engine.gru as eg
    import counting.engine.lstm as el
    import counting.engine.relu as er

    PT = np.zeros((layout.P_MAX, 2))
    PT[: layout.n_params(m.cell), 1] = _flat(m)
    h, c, hs, cs = 0.0, 0.0, [], []
    for k in word:
        if m.cell == "lstm":
            h, c = el.lane_step(PT, 1, int(k), h, c)
        elif m.cell == "gru":
            h = eg.lane_step(PT, 1, int(k), h)
        else:
            h = er.lane_step(PT, 1, int(k), h)
        hs.append(h)
        cs.append(c)
    return np.array(hs)[:, None], np.array(cs)[:, None]


def run_unrolled(m, word):
    """counting.unrolled.CellReplica (numba; torch's tanh by address)."""
    from counting.unrolled import CellReplica

    r = CellReplica.of(m)
    if r is None:
        pytest.skip(CellReplica.why_not(m))
    out = r.run(word.astype(np.int8), r.zero_state())
    keys = r.keys
    c = out[keys.index("c")] if "c" in keys else np.zeros(len(word))
    return out[keys.index("h")][:, None], c[:, None]


def run_unroll_torch(m, word):
    """probes.unroll.unroll_torch (numpy views through torch's kernels; any H)."""
    from probes.unroll import unroll_torch

    out = unroll_torch(m, word[None, :])
    c = out["c"][0] if "c" in out else np.zeros((len(word), m.hidden_size))
    return out["h"][0], c


def run_stacked(m, word):
    """paper_figs.stacked_forward._step (torch, models stacked)."""
    from paper_figs.stacked_forward import GATES, _step

    G = GATES[m.cell]
    with torch.no_grad():
        sd = m.state_dict()
        w_ih = sd["rnn.weight_ih_l0"].reshape(1, G, 2)
        b_ih = sd["rnn.bias_ih_l0"].reshape(1, G)
        w_hh = sd["rnn.weight_hh_l0"].reshape(1, 1, G)
        b_hh = sd["rnn.bias_hh_l0"].reshape(1, 1, G)
        h = torch.zeros(1, 1, 1, dtype=torch.float64)
        c = torch.zeros(1, 1, 1, dtype=torch.float64)
        hs, cs = [], []
        for k in word:
            gi = (w_ih[:, :, int(k)] + b_ih)[:, None, :]
            h, c = _step(m.cell, h, c, gi, w_hh, b_hh)
            hs.append(h.reshape(-1).numpy().copy())
            cs.append(c.reshape(-1).numpy().copy())
    return np.array(hs), np.array(cs)


def run_worstcase_replica(m, word):
    """probes.worstcase.cells.replica (numba; float32 emulated in float64)."""
    from probes.worstcase.cells import CELL_IDS, cell_params, replica

    P, cid = cell_params(m), CELL_IDS[m.cell]
    h, c, hs, cs = 0.0, 0.0, [], []
    for k in word:
        h, c, _ = replica(cid, P, False, int(k), h, c)
        hs.append(h)
        cs.append(c)
    return np.array(hs)[:, None], np.array(cs)[:, None]


def run_wide_replica(m, word):
    """probes.worstcase.wide.WideModel.replica (numpy through torch's kernels; any H)."""
    from probes.worstcase.wide import WideModel

    wm = WideModel(m)
    h = np.zeros((1, m.hidden_size))
    c = np.zeros((1, m.hidden_size))
    hs, cs = [], []
    for k in word:
        h, c = wm.replica(int(k), h, c)
        hs.append(h[0].copy())
        cs.append(c[0].copy())
    return np.array(hs), np.array(cs)


def run_gpu_step(m, word):
    """counting.gpu.cells.make_cell(...).step on numba's CUDA simulator, float64."""
    cuda = _sim_cuda()
    from counting.gpu.cells import make_cell
    from counting.gpu.numerics import numerics

    step = make_cell(m.cell, numerics("float64", True), "mse", cuda)[1]
    w = _flat(m)
    h, c, hs, cs = np.float64(0.0), np.float64(0.0), [], []
    for k in word:
        h, c = step(w, int(k), h, c)
        hs.append(float(h))
        cs.append(float(c))
    return np.array(hs)[:, None], np.array(cs)[:, None]


def _sim_cuda():
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "1") == "0":
        pytest.skip("the CUDA rows run on numba's simulator")
    from counting.gpu.device import simulator_active, use_simulator

    if not (use_simulator() and simulator_active()):
        pytest.skip("numba.cuda was imported without the simulator in this process")
    from counting.gpu.device import cuda_module

    return cuda_module()


# name: (implementation, tolerance against torch, cells)
STEP_ROWS = {
    "generic/float": (run_generic(arith.FLOAT), 1e-12, CELLS),
    "generic/torch-kernels": (run_generic(_torch_kernel_arith()), EXACT, CELLS),
    "generic/torch-tensors": (run_generic_tensor, EXACT, CELLS),
    "generic/sympy (conditions.cell_update)": (run_sympy, 1e-12, CELLS),
    "engine step (H=1)": (run_engine_step, 1e-12, CELLS),
    "engine lane_step (H=1)": (run_engine_lane, 1e-12, CELLS),
    "unrolled.CellReplica": (run_unrolled, EXACT, CELLS),
    "probes.unroll.unroll_torch": (run_unroll_torch, EXACT, CELLS),
    "stacked_forward._step": (run_stacked, EXACT, CELLS),
    "worstcase replica": (run_worstcase_replica, 1e-12, CELLS),
    "wide replica": (run_wide_replica, EXACT, CELLS),
    "gpu make_cell step (simulator)": (run_gpu_step, 1e-12, CELLS),
}


def _check(got, want, tol, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, what
    if tol == EXACT:
        same = np.array_equal(got, want, equal_nan=True) and np.array_equal(
            np.signbit(got), np.signbit(want))
        if not same:
            bad = np.flatnonzero(got.ravel() != want.ravel())
            raise AssertionError(f"{what}: not bit for bit at {bad[:5]}: "
                                 f"{got.ravel()[bad[:3]]} vs {want.ravel()[bad[:3]]}")
    else:
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("row", list(STEP_ROWS))
@pytest.mark.parametrize("cell", CELLS)
def test_step(row, cell):
    run, tol, cells = STEP_ROWS[row]
    if cell not in cells:
        pytest.skip(f"{row} has no {cell}")
    for seed, scale in SEEDS_SCALES:
        m = _model(cell, seed, scale)
        for w, word in enumerate(WORDS):
            hs, cs = torch_states(m, word)
            gh, gc = run(m, word)
            _check(gh, hs, tol, f"{row} {cell} seed {seed} x{scale} word {w}: h")
            if REGISTRY[cell].has_c:
                _check(gc, cs, tol, f"{row} {cell} seed {seed} x{scale} word {w}: c")


# ------------------------------------------------------------------ float32
FLOAT32_ROWS = {"unrolled.CellReplica": run_unrolled,
                "probes.unroll.unroll_torch": run_unroll_torch,
                "wide replica": run_wide_replica}


@pytest.mark.parametrize("row", list(FLOAT32_ROWS))
@pytest.mark.parametrize("cell", CELLS)
def test_step_float32(row, cell):
    """float32 models: bit for bit with torch, but for the LSTM, whose float32 nn.LSTM runs
    oneDNN (its gates differ by a few ulps: 1e-6)."""
    tol = 1e-6 if cell == "lstm" else EXACT
    for seed, scale in SEEDS_SCALES:
        m = _model(cell, seed, scale, dtype="float32")
        for word in WORDS:
            hs, cs = torch_states(m, word)
            gh, gc = FLOAT32_ROWS[row](m, word)
            _check(gh, hs, tol, f"{row} {cell} float32 seed {seed}: h")
            if REGISTRY[cell].has_c:
                _check(gc, cs, tol, f"{row} {cell} float32 seed {seed}: c")


# ------------------------------------------------------------------ H > 1
@pytest.mark.parametrize("row,tol", [("unroll_torch", 1e-12), ("wide replica", 1e-12)])
@pytest.mark.parametrize("cell", CELLS)
def test_step_wide(row, tol, cell):
    """Hidden size 3: the matrix products' summation order is the consumer's, so 1e-12."""
    run = run_unroll_torch if row == "unroll_torch" else run_wide_replica
    for seed, scale in SEEDS_SCALES[:2]:
        m = _model(cell, seed, scale, H=3)
        for word in WORDS:
            hs, cs = torch_states(m, word)
            gh, gc = run(m, word)
            _check(gh, hs, tol, f"{row} {cell} H=3 seed {seed}: h")
            if REGISTRY[cell].has_c:
                _check(gc, cs, tol, f"{row} {cell} H=3 seed {seed}: c")


# ------------------------------------------------------------------ enclosures
@pytest.mark.parametrize("cell", CELLS)
def test_worstcase_image_encloses_torch(cell):
    """probes.worstcase.cells.image (the verifier's interval step, hidden size 1) on the
    degenerate box of each of torch's states contains torch's next state."""
    from counting.unrolled import CellReplica
    from probes.worstcase.cells import CELL_IDS, cell_params, h_range, image
    from probes.worstcase.numerics import numeric_config

    for seed, scale in SEEDS_SCALES:
        m = _model(cell, seed, scale)
        P, cid = cell_params(m), CELL_IDS[cell]
        num = numeric_config(m.dtype, None if cell == "relu" else cell)
        r = CellReplica.of(m)
        for word in WORDS:
            hs, cs = torch_states(m, word)
            o = r.run(word.astype(np.int8), r.zero_state())[3] if cell == "lstm" else None
            for t in range(1, len(word)):
                if cell == "lstm":
                    box = (o[t - 1], o[t - 1], cs[t - 1, 0], cs[t - 1, 0])
                else:
                    box = (hs[t - 1, 0], hs[t - 1, 0], 0.0, 0.0)
                a, b, lo_c, hi_c = image(cid, P, num, int(word[t]), *box)
                if not np.isfinite(a):
                    continue  # a lost box claims nothing
                lo, hi = h_range(cid, num, a, b, lo_c, hi_c)
                assert lo <= hs[t, 0] <= hi, (cell, seed, t)
                if cell == "lstm":
                    assert lo_c <= cs[t, 0] <= hi_c and a <= o[t] <= b, (cell, seed, t)


@pytest.mark.parametrize("H", [1, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_wide_image_encloses_torch(cell, H):
    """probes.worstcase.wide.WideModel.image (interval step, any H) contains torch's next
    state from the degenerate box of the previous one."""
    from probes.worstcase.wide import WideModel

    for seed, scale in SEEDS_SCALES[:2]:
        m = _model(cell, seed, scale, H=H)
        wm = WideModel(m)
        for word in WORDS:
            hs, cs = torch_states(m, word)
            for t in range(1, len(word)):
                h0, c0 = hs[t - 1][None], cs[t - 1][None]
                a, b, lo_c, hi_c = wm.image(int(word[t]), h0, h0, c0, c0)
                ok = np.isfinite(a).all() and np.isfinite(b).all()
                if not ok:
                    continue
                assert (a[0] <= hs[t]).all() and (hs[t] <= b[0]).all(), (cell, H, seed, t)
                if cell == "lstm":
                    assert (lo_c[0] <= cs[t]).all() and (cs[t] <= hi_c[0]).all()


# ------------------------------------------------------------------ sympy forms
@pytest.mark.parametrize("cell", CELLS)
def test_sympy_forms_equal_the_definition(cell):
    """constructions.conditions: gates and cell_update are the generic step on sympy
    symbols; counter_update keeps its own form of the update ((1 - z) n + z h for the
    GRU), equal to the definition's as an expression."""
    from constructions import conditions as cond

    u = cond.counter_symbol(cell)
    g = cond.gates(cell)
    for tok, x in cond.TOKENS.items():
        a, b = cond.counter_update(cell, tok)
        if cell == "gru":  # the definition's update with the gates frozen at h_g
            frozen = cgru.update(cond.h, g["z"], g["n"])
        elif cell == "lstm":
            frozen = clstm.cell_state(cond.c, g["i"], g["f"], g["g"])
        else:  # the pre-activation, before the clip at 0
            gh, gi = cond._terms(cell, cond.h)
            frozen = crelu.make_step(lambda env, v: v)(None, gh, gi)[1]
        frozen = frozen.subs(dict(zip((cond.x0, cond.x1), x)))
        assert sp.simplify(frozen - (a * u + b)) == 0, (cell, tok)
    full = cond.cell_update(cell)  # the unfrozen step: h_g = h
    for key, expr in full.items():
        assert expr.has(cond.h) and not expr.has(cond.hg), key


# ------------------------------------------------------------------ gradients
def _torch_grad(m, word):
    """(mean MSE loss of the word, d loss / d params in the flat layout) by autograd."""
    x = torch.zeros(1, len(word), 2, dtype=torch.float64)
    x[0, np.arange(len(word)), word] = 1.0
    depth = np.cumsum(1 - 2 * word)
    tgt = torch.ones(1, len(word), 2, dtype=torch.float64)
    tgt[0, :, 1] = torch.from_numpy((depth > 0).astype(np.float64))
    m.zero_grad()
    loss = ((m(x) - tgt) ** 2).mean()
    loss.backward()
    grad = np.concatenate([p.grad.reshape(-1).numpy() for p in m.parameters()])
    return float(loss.detach()), grad


def grad_generic(m, word):
    """The generic step and its derivative (counting.cells) in plain float, with the MSE
    readout: forward, then BPTT last step first."""
    cell, p = m.cell, _flat(m)
    o, G = layout.offsets(cell), REGISTRY[cell].G
    step = arith.FLOAT.steps()[cell]
    back = {"lstm": clstm.make_backward(), "gru": cgru.make_backward(),
            "relu": crelu.make_backward(0.0)}[cell]
    whh = [p[o["whh"] + q] for q in range(G)]
    sig = arith.FLOAT.sigmoid
    n_out = 2 * len(word)
    h, c, d, total, saved = 0.0, 0.0, 0, 0.0, []
    grad = np.zeros_like(p)
    for k in word:
        k = int(k)
        d += 1 - 2 * k
        gh, gi = _terms(p, cell, k, h)
        h_prev, c_prev = h, c
        if cell == "lstm":
            h, c, *acts = step(None, gh, gi, c)
        elif cell == "gru":
            h, *acts = step(None, gh, gi, h)
            acts.append(gh[2])
        else:
            h, _ = step(None, gh, gi)
            acts = []
        dz = []
        for j, t in enumerate((1.0, 1.0 if d > 0 else 0.0)):
            y = sig(None, h * p[o["wr"] + j] + p[o["br"] + j])
            total += (y - t) ** 2
            dz.append(((2.0 / n_out) * (y - t)) * (1.0 - y) * y)
            grad[o["wr"] + j] += dz[j] * h
            grad[o["br"] + j] += dz[j]
        saved.append((k, h_prev, c_prev, h, acts, dz[0] * p[o["wr"]] + dz[1] * p[o["wr"] + 1]))
    dh, dc = 0.0, 0.0
    for k, h_prev, c_prev, h, acts, dh_out in reversed(saved):
        dh += dh_out
        if cell == "lstm":
            i, f, g, og, tc = acts
            *da, dc = back(1.0, dh, dc, i, f, g, og, tc, c_prev)
            d_ih = d_hh = da
            dh = clstm.recurrent_back(whh, *da)
        elif cell == "gru":
            r, z, n, ghn = acts
            da_r, da_z, da_n, dghn, direct = back(1.0, dh, h_prev, r, z, n, ghn)
            d_ih, d_hh = (da_r, da_z, da_n), (da_r, da_z, dghn)
            dh = cgru.recurrent_back(whh, direct, da_r, da_z, dghn)
        else:
            da = back(dh, h)
            d_ih = d_hh = (da,)
            dh = crelu.recurrent_back(whh, da)
        for q in range(G):
            grad[o["wih"] + 2 * q + k] += d_ih[q]
            grad[o["bih"] + q] += d_ih[q]
            grad[o["whh"] + q] += d_hh[q] * h_prev
            grad[o["bhh"] + q] += d_hh[q]
    return total / n_out, grad


def grad_engine(m, word):
    """counting.engine: <cell>.sequence_grad (H = 1) or <cell>_h.sequence_grad (H > 1)."""
    import importlib

    from counting.engine.losses import MSE

    H, cell = m.hidden_size, m.cell
    p, toks = _flat(m), word.astype(np.int64)
    grad = np.zeros(layout.n_params(cell, H))
    if H == 1:
        mod = importlib.import_module(f"counting.engine.{cell}")
        S = np.zeros((len(word), 8))
        loss = mod.sequence_grad(p, MSE, toks, 0, len(word), S, grad)
    else:
        from counting.engine.multicell import work_size

        mod = importlib.import_module(f"counting.engine.{cell}_h")
        S = np.zeros(work_size(mod.G, H, mod.PER_STEP * H, len(word)))
        loss = mod.sequence_grad(p, MSE, toks, 0, len(word), S, grad, H)
    return loss, grad


def grad_gpu(m, word):
    """counting.gpu.cells.make_cell(...).train_seq on numba's CUDA simulator, float64."""
    cuda = _sim_cuda()
    from counting.gpu.cells import make_cell
    from counting.gpu.numerics import numerics

    train_seq, _, _, K = make_cell(m.cell, numerics("float64", True), "mse", cuda)
    w = _flat(m)
    g = np.zeros_like(w)
    st = np.zeros((len(word), K))
    loss = train_seq(w, g, word.astype(np.int8), 0, len(word), st,
                     np.float64(2.0 / (2 * len(word))))
    return float(loss), g


GRAD_ROWS = {
    "generic/float (counting.cells backward)": (grad_generic, 1e-12, (1,)),
    "engine sequence_grad": (grad_engine, 1e-12, (1, 3)),
    "gpu train_seq (simulator)": (grad_gpu, 1e-12, (1,)),
}


@pytest.mark.parametrize("row", list(GRAD_ROWS))
@pytest.mark.parametrize("cell", CELLS)
def test_gradient(row, cell):
    run, tol, sizes = GRAD_ROWS[row]
    for H in sizes:
        for seed, scale in SEEDS_SCALES[:2]:
            m = _model(cell, seed, scale, H=H)
            for word in WORDS:
                want_l, want_g = _torch_grad(m, word)
                got_l, got_g = run(m, word)
                _check(got_l, want_l, tol, f"{row} {cell} H={H} seed {seed}: loss")
                _check(got_g, want_g, tol, f"{row} {cell} H={H} seed {seed}: grad")


# ------------------------------------------------------------------ registry and layouts
def test_every_cell_has_a_step_a_backward_and_rows():
    """A registered cell has its module (step and derivative) and runs in every row."""
    import importlib

    for name in CELLS:
        mod = importlib.import_module(f"counting.cells.{name}")
        assert callable(mod.make_step) and callable(mod.make_backward)
        assert name in arith.FLOAT.steps()
        assert all(name in cells for _, _, cells in STEP_ROWS.values())


def test_cell_ids_and_layouts_derive_from_the_registry():
    from counting.engine import evaluate, evaluate_h, train
    from counting.engine import layout as elayout
    from counting.gpu import params as gparams
    from counting.models import CELLS as MCELLS
    from counting.models import GATES as MGATES
    from probes.worstcase import cells as wcells

    ids = {c.name: c.id for c in REGISTRY.values()}
    assert elayout.CELL_IDS == wcells.CELL_IDS == ids and MCELLS == CELLS
    assert MGATES == {c.name: c.G for c in REGISTRY.values()}
    for mod in (evaluate, evaluate_h, train, wcells):  # the kernels' constants
        assert (mod.LSTM, mod.RELU, mod.GRU) == (ids["lstm"], ids["relu"], ids["gru"])
    for name in CELLS:
        assert gparams.offsets(name) == layout.offsets(name, 1)
        assert gparams.n_params(name) == layout.n_params(name, 1)
        for H in range(1, 9):
            m = init_model(name, H, 0, "float64")
            vec = elayout.pack(m)
            assert vec.size == layout.n_params(name, H) == elayout.n_params(name, H)
            assert elayout.n_params_of(ids[name], H) == layout.n_params(name, H)
            b = layout.blocks(vec, name, H)
            sd = m.state_dict()
            for blk, key in zip(layout.BLOCKS, sd):
                np.testing.assert_array_equal(b[blk], sd[key].numpy())


def test_the_numba_cache_key_covers_the_cells():
    """Kernels of other packages compile the steps of counting.cells (the engine's H = 1
    steps, counting.unrolled): an edit there must change the project's cache key, or numba
    would serve the old step from its cache."""
    from pathlib import Path

    from counting.jit import cache

    here = Path(layout.__file__).resolve().parent
    assert {p.resolve() for p in here.glob("*.py")} <= {p.resolve() for p in cache.sources()}
