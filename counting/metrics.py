"""Accuracy and First Point of Failure (FPF), and batched evaluation of a model on a set.

A token is right when both outputs, thresholded at 0.5, equal the targets. For one sequence
FPF = the number of leading tokens classified right (the 0-based index of the first wrong
token), = its length when none is wrong. On a set: sequence accuracy = % of sequences with
every token right; FPF = mean over sequences; fully_right = count of sequences with none wrong.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from counting.dyck import targets, tokens, validate

THRESHOLD = 0.5


def token_correct(probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """probs, target: (..., T, 2) -> (..., T) bool, True where both outputs are right."""
    return np.all((probs > THRESHOLD) == (target > THRESHOLD), axis=-1)


def first_point_of_failure(correct: np.ndarray) -> int:
    """correct: (T,) bool -> index of the first False, or T if all are True."""
    correct = np.asarray(correct, dtype=bool)
    wrong = np.flatnonzero(~correct)
    return int(wrong[0]) if wrong.size else int(correct.size)


def summarize_fpf(fpfs, lengths) -> dict:
    """Per-sequence FPFs and lengths -> {"n", "accuracy" (%), "fpf" (mean), "fully_right"}."""
    fpfs = np.asarray(fpfs, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = int(fpfs.size)
    fully = int(np.sum(fpfs == lengths))
    return {
        "n": n,
        "accuracy": 100.0 * fully / n if n else float("nan"),
        "fpf": float(fpfs.mean()) if n else float("nan"),
        "fully_right": fully,
    }


def sequence_loss(probs: np.ndarray, target: np.ndarray, loss: str = "mse") -> float:
    """Mean loss over the T x 2 outputs of one sequence (as nn.MSELoss / nn.BCELoss)."""
    if loss == "mse":
        return float(np.mean((probs - target) ** 2))
    if loss == "bce":
        p = np.clip(probs, np.exp(-100), 1.0)  # torch clamps log at -100
        q = np.clip(1.0 - probs, np.exp(-100), 1.0)
        return float(np.mean(-(target * np.log(p) + (1 - target) * np.log(q))))
    raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")


@torch.no_grad()
def predict(model, seqs: list[str], batch_size: int = 256, max_tokens: int = 2_000_000):
    """Run `model` on `seqs` in right-padded batches of similar length.

    Yields (index, probs (L, 2) numpy float64) for every sequence, in input order.
    """
    from counting.models import pad_batch  # local import keeps metrics importable alone

    order = np.argsort([len(s) for s in seqs], kind="stable")
    results = [None] * len(seqs)
    i = 0
    while i < len(order):
        longest = len(seqs[order[min(i + batch_size, len(order)) - 1]])
        size = max(1, min(batch_size, max_tokens // max(longest, 1)))
        idx = order[i : i + size]
        batch = [seqs[k] for k in idx]
        x, lengths = pad_batch(batch, model.dtype)
        out = model(x).double().numpy()  # (B, T, 2)
        for b, k in enumerate(idx):
            results[k] = out[b, : lengths[b]]
        i += size
    return results


LONG_WORD = 20_000  # longer words are evaluated one at a time, streamed in chunks
CHUNK = 1 << 16  # tokens per chunk of a streamed word


def evaluate(model, seqs: list[str], loss: str = "mse", batch_size: int = 256,
             progress: bool = False) -> dict:
    """-> {"n", "accuracy", "fpf", "fully_right", "loss", "fpfs"} for a model on a set.

    `loss` is the true mean over sequences of each sequence's mean loss. Words longer than
    LONG_WORD tokens are streamed in chunks (`evaluate_word`): memory stays bounded and a
    word of 10^6 tokens took 0.06-0.5 s for a hidden-size-1 model (benchmarks/RESULTS.md).
    `progress` shows a bar over the long words' tokens when they take more than a couple
    of seconds.
    """
    if loss not in ("mse", "bce"):
        raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")
    seqs = list(seqs)
    short = [k for k, s in enumerate(seqs) if len(s) <= LONG_WORD]
    long_ = [k for k, s in enumerate(seqs) if len(s) > LONG_WORD]
    fpfs = [0] * len(seqs)
    losses = [0.0] * len(seqs)
    was_training = model.training
    model.eval()
    try:
        probs = predict(model, [seqs[k] for k in short], batch_size)
        for k, p in zip(short, probs):
            t = targets(seqs[k])
            fpfs[k] = first_point_of_failure(token_correct(p, t))
            losses[k] = sequence_loss(p, t, loss)
        total = sum(len(seqs[k]) for k in long_)
        with tqdm(total=total, desc="evaluate", unit="token", unit_scale=True, delay=2.0,
                  disable=not progress or not long_, leave=False) as bar:
            for k in long_:
                fpfs[k], losses[k] = evaluate_word(model, seqs[k], loss, bar.update)
    finally:
        model.train(was_training)
    out = summarize_fpf(fpfs, [len(s) for s in seqs])
    out["loss"] = float(np.mean(losses)) if losses else float("nan")
    out["fpfs"] = fpfs
    return out


@torch.no_grad()
def evaluate_word(model, seq: str, loss: str = "mse", update=None) -> tuple[int, float]:
    """(FPF, mean loss over the T x 2 outputs) of one word, streamed in chunks of CHUNK
    tokens, carrying the recurrent state: memory O(CHUNK), whatever the word's length.

    The recurrent states come from `counting.unrolled` (hidden size 1: torch's cell
    arithmetic replayed in numba, h equal to the module's bit for bit) or else from the
    module itself, chunk by chunk; the readout and sigmoid are the module's own.
    `update(n)` is called after each chunk of n tokens (a progress bar's update).
    """
    from counting.unrolled import CellReplica

    tok = tokens(seq)
    depth = validate(seq, balanced=False)
    T = tok.size
    replica = _replica_for(model, CellReplica)
    state = replica.zero_state() if replica is not None else None
    first, total = T, 0.0
    for s in range(0, T, CHUNK):
        e = min(T, s + CHUNK)
        if replica is not None:
            h = torch.from_numpy(replica.run(tok[s:e], state)[-1])  # (t,) h is the last key
            h = h.view(1, -1, 1)
        else:
            x = torch.zeros(1, e - s, 2, dtype=model.dtype)
            x[0, torch.arange(e - s), torch.from_numpy(tok[s:e].astype(np.int64))] = 1
            h, state = model.rnn(x, state)
        p = torch.sigmoid(model.readout(h))[0].double().numpy()  # (t, 2)
        target = np.ones_like(p)
        target[:, 1] = depth[s:e] > 0
        if first == T:
            wrong = np.flatnonzero(~token_correct(p, target))
            if wrong.size:
                first = s + int(wrong[0])
        total += sequence_loss(p, target, loss) * p.size
        if update is not None:
            update(e - s)
    return first, total / (2 * T) if T else float("nan")


def _replica_for(model, replica_cls):
    """The numba replica where it reproduces the module (the float32 nn.LSTM runs oneDNN,
    whose gates the replica does not reproduce: that one streams through the module)."""
    if model.cell == "lstm" and model.dtype == torch.float32:
        return None
    return replica_cls.of(model)
