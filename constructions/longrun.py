"""Run a construction on very long sequences (10^6 - 10^8 tokens) exactly, as a batch of chunks.

A sequence of T tokens is cut into chunks of K tokens, and chunk k is run by the model's own
nn.LSTM / nn.RNN / nn.GRU from the state the construction's closed form predicts after token
kK - 1 (`affine.counter_values`). All chunks run side by side as one batch, so the cost is K
sequential steps instead of T. The run is then checked: the final state of every chunk must
equal, bit for bit, the predicted state the next chunk started from. If every seam matches,
then by induction over the chunks (the layers are deterministic and treat batch rows
independently) the outputs are exactly those of one sequential run from the zero state -
a stitch error means the prediction, not the model, was wrong, and it is reported.

Only for models whose gates do not read h (LSTM and GRU with W_hh = 0, any ReLU): then the
state (h, c) is a known function of the counter and the last token. Bit-exact predictions
exist for the exact counters (integer counters); the leaky families give stitch errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from constructions.affine import AffineCounter, counter_values
from constructions.saturation import kernel_values
from counting.dyck import tokens
from counting.metrics import token_correct


@dataclass
class StitchedResult:
    """correct: (T,) bool per token; first_failure: first False (None if none);
    stitch_errors: positions (token index of a chunk's last token) where a chunk's final state
    differed from the next chunk's predicted start; probs: (T, 2) float64 if requested."""

    correct: np.ndarray
    first_failure: int | None
    stitch_errors: list[int]
    probs: np.ndarray | None = None


def _check_model(model) -> None:
    if model.hidden_size != 1:
        raise ValueError("stitched runs need hidden size 1")
    if model.cell != "relu" and bool(torch.any(model.rnn.weight_hh_l0 != 0)):
        raise ValueError(f"stitched runs need an {model.cell} whose gates do not read h "
                         "(weight_hh_l0 = 0): its state is then a function of the counter")


@torch.no_grad()
def predicted_states(model, counter: AffineCounter, tok: np.ndarray, positions: np.ndarray):
    """The model's state after token t for each t in `positions` (-1: the zero start state).
    -> (h (n,), c (n,) or None) torch tensors in the model's dtype."""
    dtype = model.dtype
    u = torch.as_tensor(counter_values(counter, tok, positions)).to(dtype)
    positions = np.asarray(positions)
    if model.cell != "lstm":
        return u, None
    # h = o tanh(c), o the output gate of the token just read (gates do not read h)
    last = np.where(positions >= 0, tok[np.maximum(positions, 0)], 0)
    w, b = model.rnn.weight_ih_l0[3], model.rnn.bias_ih_l0[3] + model.rnn.bias_hh_l0[3]
    pre_o = (w[torch.as_tensor(last, dtype=torch.long)] + b).double().numpy()
    o = torch.as_tensor(kernel_values("sigmoid", pre_o, dtype, "lstm")).to(dtype)
    th = torch.as_tensor(kernel_values("tanh", u.double().numpy(), dtype, "lstm")).to(dtype)
    h = torch.where(torch.as_tensor(positions >= 0), o * th, torch.zeros_like(u))
    return h, u


@torch.no_grad()
def stitched_run(model, seq, counter: AffineCounter | None = None, chunk: int = 4096,
                 rows: int = 512, return_probs: bool = False,
                 progress: bool = False) -> StitchedResult:
    """Evaluate `model` on a Dyck prefix `seq` (string or (T,) token ids, 0 '(' 1 ')') as
    chunks of `chunk` tokens, `rows` chunks per batch. counter: the closed-form counter that
    predicts the chunk start states (default: conditions.affine_counter(model))."""
    _check_model(model)
    if counter is None:
        from constructions.conditions import affine_counter

        counter = affine_counter(model)
    tok = tokens(seq) if isinstance(seq, str) else np.asarray(seq, dtype=np.int8)
    T = tok.size
    n_chunks = -(-T // chunk)
    starts = np.arange(n_chunks, dtype=np.int64) * chunk
    h_pred, c_pred = predicted_states(model, counter, tok, starts - 1)
    correct = np.zeros(T, dtype=bool)
    probs_all = np.zeros((T, 2)) if return_probs else None
    errors: list[int] = []
    depth0 = 0
    dtype = model.dtype
    for g0 in tqdm(range(0, n_chunks, rows), desc="stitched run", unit="batch",
                   disable=not progress):
        g1 = min(g0 + rows, n_chunks)
        t0, t1 = g0 * chunk, min(g1 * chunk, T)
        R = g1 - g0
        x = torch.zeros(R * chunk, 2, dtype=dtype)
        seg = torch.as_tensor(tok[t0:t1], dtype=torch.long)
        x[torch.arange(t1 - t0), seg] = 1.0
        x = x.reshape(R, chunk, 2)
        h0 = h_pred[g0:g1].reshape(1, R, 1)
        if model.cell == "lstm":
            out, (hn, cn) = model.rnn(x, (h0, c_pred[g0:g1].reshape(1, R, 1)))
        else:
            out, hn = model.rnn(x, h0)
            cn = None
        probs = torch.sigmoid(model.readout(out)).double().numpy().reshape(R * chunk, 2)
        probs = probs[: t1 - t0]
        depth = depth0 + np.cumsum(1 - 2 * tok[t0:t1].astype(np.int64))
        target = np.ones((t1 - t0, 2))
        target[:, 1] = depth > 0
        correct[t0:t1] = token_correct(probs, target)
        if probs_all is not None:
            probs_all[t0:t1] = probs
        depth0 = int(depth[-1])
        # seams: chunk k's final state vs chunk k+1's predicted start (full chunks only)
        nxt = torch.arange(g0 + 1, min(g1 + 1, n_chunks))
        m = nxt.numel()
        bad = hn[0, :m, 0] != h_pred[nxt]
        if cn is not None:
            bad |= cn[0, :m, 0] != c_pred[nxt]
        errors += [int(k) * chunk - 1 for k in nxt[bad].tolist()]
    wrong = np.flatnonzero(~correct)
    return StitchedResult(correct, int(wrong[0]) if wrong.size else None, errors, probs_all)
