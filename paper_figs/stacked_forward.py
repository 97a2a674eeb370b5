"""The outputs of many models of one cell on the same words, in one pass over the tokens.

`counting reproduce` classifies the first failure of 60 models per cell on ten 2000-token
zigzag words. Running each model's own forward (or `probes.trace_batch`) loops over the
2000 tokens once per model; here the models are stacked along a leading axis and every
token step runs all of them at once, with torch's equations and order of operations
(those of `nn.LSTM`, `nn.GRU`, `nn.RNN(nonlinearity='relu')` and of `probes.unroll`):

    LSTM  pre = (w_hh h + b_hh) + (w_ih x + b_ih)      gates i f g o
          c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
    GRU   gh = w_hh h + b_hh;  gi = w_ih x + b_ih      gates r z n
          r, z = sigmoid(gh + gi);  n = tanh(gi_n + r gh_n);  h' = (h - n) z + n
    ReLU  h' = max((w_hh h + b_hh) + (w_ih x + b_ih), 0)
    out = sigmoid(w_out h + b_out)

Only hidden size 1 (every product is a scalar product, so no summation order is involved)
and float64; `stackable(models)` says whether a list qualifies. Tested against each model's
own forward and against `probes.trace_batch` (tests/test_reproduce_speed.py).
"""

from __future__ import annotations

import numpy as np
import torch

from counting.cells import gru as cells_gru
from counting.cells import lstm as cells_lstm
from counting.cells import relu as cells_relu
from counting.cells.registry import GATES
from counting.dyck import tokens


def stackable(models) -> bool:
    """True if the models share one cell and all have hidden size 1 and float64."""
    return (
        len(models) > 0
        and len({m.cell for m in models}) == 1
        and all(m.hidden_size == 1 and m.dtype == torch.float64 for m in models)
    )


def _stack(models, name: str) -> torch.Tensor:
    return torch.stack([m.state_dict()[name].detach().reshape(-1) for m in models])


_RELU = cells_relu.make_step(lambda env, x: torch.clamp_min(x, 0.0))


def _step(cell: str, h, c, gi, w_hh, b_hh):
    """One step of all models on all words: h, c (M, B, 1), gi = w_ih x + b_ih (M, B, G),
    w_hh, b_hh (M, 1, G) -> (h', c').

    The cells of `counting.cells`: the ReLU's generic step; the LSTM's and GRU's parts
    (`cell_state`, `output`; `candidate_pre`, `update`) around one torch.sigmoid call over
    all gates at once (torch's vectorized kernel on the contiguous (M, B, G) block: per-gate
    slices would take its scalar path, whose bits differ), as this module always did; held
    to the definition by tests/test_cell_conformance.py.
    """
    if cell == "lstm":
        pre = (h * w_hh + b_hh) + gi
        s = torch.sigmoid(pre)
        g = torch.tanh(pre[..., 2:3])
        c = cells_lstm.cell_state(c, s[..., 0:1], s[..., 1:2], g)
        return cells_lstm.output(s[..., 3:4], torch.tanh(c)), c
    if cell == "gru":
        gh = h * w_hh + b_hh
        s = torch.sigmoid(gh[..., :2] + gi[..., :2])
        n = torch.tanh(cells_gru.candidate_pre(gi[..., 2:3], s[..., 0:1], gh[..., 2:3]))
        return cells_gru.update(h, s[..., 1:2], n), c
    return _RELU(None, (h * w_hh + b_hh,), (gi,))[0], c


def stacked_outputs(models, seqs: list[str]) -> np.ndarray:
    """Outputs of every model on every word -> (M, B, T, 2) float64, T the longest word;
    positions after a word's end hold the outputs of zero-input steps (as `probes.unroll`).

    models: M CounterRNNs of one cell, hidden size 1, float64 (see `stackable`).
    """
    if not stackable(models):
        raise ValueError("stacked_outputs needs models of one cell, hidden size 1, float64")
    cell = models[0].cell
    G = GATES[cell]
    M, B = len(models), len(seqs)
    T = max(len(s) for s in seqs)
    tok = np.full((B, T), 2, dtype=np.int64)  # 2 = padding: zero input
    for b, s in enumerate(seqs):
        tok[b, : len(s)] = tokens(s)
    with torch.no_grad():
        w_ih = _stack(models, "rnn.weight_ih_l0").reshape(M, G, 2)
        b_ih = _stack(models, "rnn.bias_ih_l0")  # (M, G)
        w_hh = _stack(models, "rnn.weight_hh_l0")[:, None, :]  # (M, 1, G)
        b_hh = _stack(models, "rnn.bias_hh_l0")[:, None, :]
        # w_ih x + b_ih for x = '(', ')', zero: (M, 3, G)
        table = torch.stack([w_ih[:, :, 0] + b_ih, w_ih[:, :, 1] + b_ih, b_ih], dim=1)
        rows = torch.from_numpy(tok.T.copy())  # (T, B)
        h = torch.zeros(M, B, 1, dtype=torch.float64)
        c = torch.zeros(M, B, 1, dtype=torch.float64)
        hs = torch.empty(T, M, B, 1, dtype=torch.float64)
        for t in range(T):
            h, c = _step(cell, h, c, table[:, rows[t], :], w_hh, b_hh)
            hs[t] = h
        w_out = _stack(models, "readout.weight")[:, None, None, :]  # (M, 1, 1, 2)
        b_out = _stack(models, "readout.bias")[:, None, None, :]
        out = torch.sigmoid(hs.permute(1, 2, 0, 3) * w_out + b_out)  # (M, B, T, 2)
    return out.numpy()
