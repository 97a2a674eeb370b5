"""`evaluate_many`: many models on one set, the fast way where it applies."""

from __future__ import annotations

import numpy as np

from counting.engine.backend import metrics_dict
from counting.engine.layout import supports
from counting.engine.losses import loss_id
from counting.engine.many import JointSet, ModelBank
from counting.metrics import evaluate


def evaluate_many(models: list, seqs: list[str], loss: str = "mse") -> list[dict]:
    """Evaluate each model on `seqs` -> one dict per model, as `counting.metrics.evaluate`:
    {"n", "accuracy" (%), "fpf" (mean), "fully_right", "loss", "fpfs" (list of int)}.

    float64 models of hidden size 1-8 run in the numba kernels (hidden size 1: blocks of up
    to 32 models of a cell, one per SIMD lane; H > 1: one model per block, its gates
    vectorized; blocks spread over the threads); any other model falls back to
    `counting.metrics.evaluate`. Results agree with `counting.metrics.evaluate` to rounding
    (losses within 1e-12 relative in the tests, typically ~1e-15; FPFs exactly, unless an
    output lies within rounding of the 0.5 threshold).
    """
    seqs = list(seqs)
    lid = loss_id(loss)
    if not seqs:
        raise ValueError("cannot evaluate on an empty set")
    fast = [i for i, m in enumerate(models) if supports(m) is None]
    results: list[dict | None] = [None] * len(models)
    if fast:
        bank = ModelBank([models[i] for i in fast], [0.0] * len(fast), lid)
        joint = JointSet({"set": seqs})
        _, per_set = bank.epoch(np.arange(len(fast)), None, None, joint)
        seq_loss, fpf = per_set["set"]
        lengths = joint.parts["set"].lengths
        for j, i in enumerate(fast):
            results[i] = metrics_dict(seq_loss[j], fpf[j], lengths)
    for i, m in enumerate(models):
        if results[i] is None:
            results[i] = evaluate(m, seqs, loss)
    return results
