"""The recurrent cells of `CounterRNN`, unrolled step by step in numpy over a batch.

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

Arithmetic is done in numpy in the model's dtype; sigmoid and tanh are torch's own CPU
kernels (applied to numpy views without copying), so a gate is exactly 1.0 here exactly
when torch makes it 1.0 (numpy's tanh, for one, saturates at a different pre-activation).
Inputs are one-hot, so W_ih x is a table lookup by token. Hidden size 1 reproduces torch
bit for bit; larger H differs only by the summation order of the matrix products.
"""

from __future__ import annotations

import numpy as np
import torch

from counting.models import CounterRNN

# Names of the per-step arrays each cell produces, in the order the unroll writes them.
CELL_KEYS = {
    "lstm": ("i", "f", "g", "o", "c", "h"),
    "gru": ("r", "z", "n", "h"),
    "relu": ("pre", "h"),
}
GATE_KEYS = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "relu": ()}
# The state that should equal (a multiple of) the depth.
COUNTER_KEY = {"lstm": "c", "gru": "h", "relu": "h"}


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


def unroll(model: CounterRNN, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Run the cell over a batch of token sequences.

    Args:
        model: a CounterRNN (any cell, hidden size H, float32 or float64).
        tokens: (B, T) int, 0 = '(', 1 = ')', -1 = padding (a zero input, as `pad_batch`).

    Returns:
        {key: (B, T, H) array for key in CELL_KEYS[cell], "out": (B, T, 2)}, all in the
        model's dtype. Steps after a sequence's end hold the values of zero-input steps.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must have shape (B, T), got {tokens.shape}")
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
    if model.cell == "lstm":
        c = np.zeros((B, H), dtype=dt)
        bi, bf, bg, bo, bc, bh = (buf[k] for k in keys)
        for t in range(T):
            pre = (h @ w_hh_t + b_hh) + table[rows[t]]
            s = _sigmoid(pre)
            i, f, o = s[:, :H], s[:, H : 2 * H], s[:, 3 * H :]
            g = _tanh(pre[:, 2 * H : 3 * H])
            c = f * c + i * g
            h = o * _tanh(c)
            bi[t], bf[t], bg[t], bo[t], bc[t], bh[t] = i, f, g, o, c, h
    elif model.cell == "gru":
        br, bz, bn, bh = (buf[k] for k in keys)
        for t in range(T):
            gh = h @ w_hh_t + b_hh
            gi = table[rows[t]]
            s = _sigmoid(gh[:, : 2 * H] + gi[:, : 2 * H])
            r, z = s[:, :H], s[:, H:]
            n = _tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            h = (h - n) * z + n
            br[t], bz[t], bn[t], bh[t] = r, z, n, h
    else:
        bp, bh = buf["pre"], buf["h"]
        zero = dt.type(0)
        for t in range(T):
            pre = (h @ w_hh_t + b_hh) + table[rows[t]]
            h = np.maximum(pre, zero)
            bp[t], bh[t] = pre, h
    out = {k: v.transpose(1, 0, 2) for k, v in buf.items()}
    out["out"] = _sigmoid(out["h"] @ w["w_out"].T + w["b_out"])
    return out
