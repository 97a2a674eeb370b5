"""The recurrent cells of `CounterRNN`, unrolled step by step over a batch.

`nn.LSTM`, `nn.GRU` and `nn.RNN` return only h_t, so the probes recompute every
intermediate themselves, with torch's equations and torch's order of operations:

    LSTM  pre = (W_hh h + b_hh) + (W_ih x + b_ih)          gate order i f g o
          i, f, o = sigmoid(pre_i, pre_f, pre_o); g = tanh(pre_g)
          c' = f c + i g;   h' = o tanh(c')
    GRU   gh = W_hh h + b_hh;  gi = W_ih x + b_ih          gate order r z n
          r = sigmoid(gh_r + gi_r); z = sigmoid(gh_z + gi_z)
          n = tanh(gi_n + r gh_n);  h' = (h - n) z + n
    ReLU  pre = (W_hh h + b_hh) + (W_ih x + b_ih);  h' = max(pre, 0)
    out = sigmoid(W_out h + b_out)                          (the two probabilities)

Arithmetic is done in the model's dtype with torch's own sigmoid and tanh, so a gate is
exactly 1.0 here exactly when torch makes it 1.0 (numpy's tanh, for one, saturates at a
different pre-activation). Two implementations:

- hidden size 1 (the paper's models): `counting.unrolled`, numba kernels that call torch's
  CPU tanh (MKL) and its scalar sigmoid one element at a time (`counting.unrolled`, checked
  against torch at first use): h equals the module's output bit for bit in float64 (and in
  float32 for ReLU and GRU; the float32 nn.LSTM runs oneDNN, whose gates differ by a few
  ulps); 0.1-0.6 us a token (a word of 10^6 tokens: 0.2-1.1 s under load);
- any other model (or where torch's tanh cannot be reached): a numpy loop over the steps
  that applies torch.sigmoid / torch.tanh to numpy views, ~30 us a step. Larger H differs
  from the module only by the summation order of the matrix products.

Inputs are one-hot, so W_ih x is a table lookup by token.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from counting.cells import gru as cells_gru
from counting.cells import lstm as cells_lstm
from counting.cells import relu as cells_relu
from counting.cells.registry import REGISTRY
from counting.models import CounterRNN
from counting.unrolled import CellReplica

# Names of the per-step arrays each cell produces, in the order the unroll writes them.
CELL_KEYS = {name: c.keys for name, c in REGISTRY.items()}
GATE_KEYS = {name: c.gate_keys for name, c in REGISTRY.items()}
# The state that should equal (a multiple of) the depth.
COUNTER_KEY = {name: c.counter for name, c in REGISTRY.items()}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return torch.sigmoid(torch.from_numpy(x)).numpy()


def _tanh(x: np.ndarray) -> np.ndarray:
    return torch.tanh(torch.from_numpy(x)).numpy()


def weights(model: CounterRNN) -> dict[str, np.ndarray]:
    """The model's parameters as numpy arrays in its dtype (shapes as in `counting.models`)."""
    if not isinstance(model, CounterRNN):
        raise TypeError(f"expected a counting.models.CounterRNN, got {type(model).__name__}")
    rnn = model.rnn
    return {
        "w_ih": rnn.weight_ih_l0.detach().cpu().numpy(),
        "w_hh": rnn.weight_hh_l0.detach().cpu().numpy(),
        "b_ih": rnn.bias_ih_l0.detach().cpu().numpy(),
        "b_hh": rnn.bias_hh_l0.detach().cpu().numpy(),
        "w_out": model.readout.weight.detach().cpu().numpy(),
        "b_out": model.readout.bias.detach().cpu().numpy(),
    }


def unroll(model: CounterRNN, tokens: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
    """Run the cell over a batch of token sequences.

    Args:
        model: a CounterRNN (any cell, hidden size H, float32 or float64).
        tokens: (B, T) int, 0 = '(', 1 = ')', -1 = padding (a zero input, as `pad_batch`).
        progress: show a progress bar when the work takes more than a few seconds.

    Returns:
        {key: (B, T, H) array for key in CELL_KEYS[cell], "out": (B, T, 2)}, all in the
        model's dtype. Steps after a sequence's end hold the values of zero-input steps.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must have shape (B, T), got {tokens.shape}")
    w = weights(model)
    replica = CellReplica.of(model)
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding ReLU is a finding
        if replica is not None:
            out = _unroll_replica(replica, tokens, progress)
        else:
            out = unroll_torch(model, tokens, progress)
        out["out"] = _sigmoid(_readout(out["h"], w["w_out"], w["b_out"]))
    return out


def _readout(h: np.ndarray, w_out: np.ndarray, b_out: np.ndarray) -> np.ndarray:
    """W_out h + b_out: (B, T, H) -> (B, T, 2). For H = 1 the product is one rounded
    multiplication either way, done here by broadcasting (much faster than matmul)."""
    if h.shape[-1] != 1:
        return h @ w_out.T + b_out
    out = np.empty((*h.shape[:-1], 2), dtype=np.result_type(h, w_out))
    for k in range(2):  # one output column at a time: long contiguous loops
        np.multiply(h[..., 0], w_out[k, 0], out=out[..., k])
        out[..., k] += b_out[k]
    return out


CHUNK = 1 << 16  # tokens per kernel call (the progress bar's step)


def _bar(total: int, progress: bool, desc: str):
    return tqdm(total=total, desc=desc, unit="token", unit_scale=True, delay=2.0,
                disable=not progress, leave=False)


def _unroll_replica(replica: CellReplica, tokens: np.ndarray, progress: bool) -> dict:
    """The numba replica (hidden size 1), row by row, in chunks carrying the state."""
    B, T = tokens.shape
    buf = np.empty((len(replica.keys), B, T), dtype=replica.dtype)  # each key contiguous
    tok = np.ascontiguousarray(tokens, dtype=np.int8)
    with _bar(B * T, progress, f"trace {replica.cell}") as bar:
        for b in range(B):
            state = replica.zero_state()
            for s in range(0, T, CHUNK):
                e = min(T, s + CHUNK)
                replica.run(tok[b, s:e], state, out=buf[:, b, s:e])
                bar.update(e - s)
    return {k: buf[j, :, :, None] for j, k in enumerate(replica.keys)}


def unroll_torch(model: CounterRNN, tokens: np.ndarray, progress: bool = False) -> dict:
    """The step loop with torch's kernels on numpy views: any hidden size (the reference
    the replica is tested against). Returns the cell's keys (B, T, H), without "out".

    The cells of `counting.cells`: the ReLU's generic step; the LSTM's and GRU's parts
    (`cell_state`, `output`; `candidate_pre`, `update`) around one torch.sigmoid over all
    gate rows at once (torch's vectorized kernel: its bits on per-gate slices differ), as
    before; held to the definition by tests/test_cell_conformance.py."""
    w = weights(model)
    dt = w["w_hh"].dtype
    B, T = tokens.shape
    H = model.hidden_size
    # Input contribution per token id: rows '(' , ')' and padding (x = 0 -> bias only).
    table = np.stack([w["w_ih"][:, 0] + w["b_ih"], w["w_ih"][:, 1] + w["b_ih"], w["b_ih"]])
    rows = np.where(tokens < 0, 2, tokens).astype(np.intp).T  # (T, B)
    w_hh_t = np.ascontiguousarray(w["w_hh"].T)  # (H, G*H)
    b_hh = w["b_hh"]
    keys = CELL_KEYS[model.cell]
    buf = {k: np.empty((T, B, H), dtype=dt) for k in keys}
    h = np.zeros((B, H), dtype=dt)
    bar = _bar(T * B, progress, f"trace {model.cell}")
    if model.cell == "lstm":
        c = np.zeros((B, H), dtype=dt)
        bi, bf, bg, bo, bc, bh = (buf[k] for k in keys)
        for t in range(T):
            pre = (h @ w_hh_t + b_hh) + table[rows[t]]
            s = _sigmoid(pre)
            i, f, o = s[:, :H], s[:, H : 2 * H], s[:, 3 * H :]
            g = _tanh(pre[:, 2 * H : 3 * H])
            c = cells_lstm.cell_state(c, i, f, g)
            h = cells_lstm.output(o, _tanh(c))
            bi[t], bf[t], bg[t], bo[t], bc[t], bh[t] = i, f, g, o, c, h
            if t % 4096 == 4095:
                bar.update(4096 * B)
    elif model.cell == "gru":
        br, bz, bn, bh = (buf[k] for k in keys)
        for t in range(T):
            gh = h @ w_hh_t + b_hh
            gi = table[rows[t]]
            s = _sigmoid(gh[:, : 2 * H] + gi[:, : 2 * H])
            r, z = s[:, :H], s[:, H:]
            n = _tanh(cells_gru.candidate_pre(gi[:, 2 * H :], r, gh[:, 2 * H :]))
            h = cells_gru.update(h, z, n)
            br[t], bz[t], bn[t], bh[t] = r, z, n, h
            if t % 4096 == 4095:
                bar.update(4096 * B)
    else:
        bp, bh = buf["pre"], buf["h"]
        zero = dt.type(0)
        relu_step = cells_relu.make_step(lambda env, x: np.maximum(x, zero))
        for t in range(T):
            h, pre = relu_step(None, (h @ w_hh_t + b_hh,), (table[rows[t]],))
            bp[t], bh[t] = pre, h
            if t % 4096 == 4095:
                bar.update(4096 * B)
    bar.close()
    return {k: v.transpose(1, 0, 2) for k, v in buf.items()}
