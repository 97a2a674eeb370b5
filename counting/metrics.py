"""Accuracy and First Point of Failure (FPF), and batched evaluation of a model on a set.

A token is right when both outputs, thresholded at 0.5, equal the targets. For one sequence
FPF = the number of leading tokens classified right (the 0-based index of the first wrong
token), = its length when none is wrong. On a set: sequence accuracy = % of sequences with
every token right; FPF = mean over sequences; fully_right = count of sequences with none wrong.
"""

from __future__ import annotations

import numpy as np
import torch

from counting.dyck import targets

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


def evaluate(model, seqs: list[str], loss: str = "mse", batch_size: int = 256) -> dict:
    """-> {"n", "accuracy", "fpf", "fully_right", "loss", "fpfs"} for a model on a set.

    `loss` is the true mean over sequences of each sequence's mean loss.
    """
    was_training = model.training
    model.eval()
    probs = predict(model, seqs, batch_size)
    model.train(was_training)
    fpfs, losses = [], []
    for s, p in zip(seqs, probs):
        t = targets(s)
        fpfs.append(first_point_of_failure(token_correct(p, t)))
        losses.append(sequence_loss(p, t, loss))
    out = summarize_fpf(fpfs, [len(s) for s in seqs])
    out["loss"] = float(np.mean(losses)) if losses else float("nan")
    out["fpfs"] = fpfs
    return out
