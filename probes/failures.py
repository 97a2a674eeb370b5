"""Classify each sequence's first failure against the exact construction.

At the first wrong token t of a sequence (the First Point of Failure), let d be the true
depth after t (the exact construction's counter there) and P the peak depth since the
depth was last 0 (the maximum true depth over the tokens after the last earlier token at
depth 0, up to and including t). With the ')' output o1 = out[t, 1] > 0.5:

    at-zero          d = 0 and o1            counter did not return to zero:
                                             decrements smaller than increments
    early            0 < d <= P/2, not o1    counter reached zero too soon:
                                             decrements larger than increments
    depth-dependent  d > P/2, not o1         the count collapses soon after a closing run
                                             starts: the step depends on the counter's value
    other            anything else: only the '(' output is wrong, or the outputs are NaN

(When the ')' output is wrong the first three cases are exhaustive.) Note that by this
rule a failure while the depth is still rising (d = P) counts as depth-dependent.

The classes explain a failure by how a counter errs, so they assume there is one. A model
whose counter does not move, or that classifies nothing right (every probe sequence fails
at its first token), gets the verdict `no counter` instead (`no_counter_reason`); its
failure records and class counts are kept as they are.
"""

from __future__ import annotations

import numpy as np

from counting.metrics import THRESHOLD
from probes.reference import true_counter
from probes.tracing import trace_batch

CLASSES = ("early", "at-zero", "depth-dependent", "other")
EXPLANATION = {
    "early": "the counter reaches zero too soon: decrements are larger than increments",
    "at-zero": "the counter does not return to zero: decrements are smaller than increments",
    "depth-dependent": "the count collapses soon after a closing run starts: the step "
    "depends on the counter's value",
    "other": "failures not explained by the counter (the '(' output, or NaN outputs)",
    "no failure": "every probe sequence is classified right at every token",
    "no counter": "there is no counter to diagnose, so no failure class applies (the "
    "classes assume a counter that errs)",
}
NO_COUNTER = "no counter"


def classify(out_t: np.ndarray, d: int, peak: int) -> str:
    """Class of a failure with outputs out_t (2,) at true depth d and peak depth `peak`."""
    if not np.all(np.isfinite(out_t)):
        return "other"
    says_close = bool(out_t[1] > THRESHOLD)
    if says_close == (d > 0):  # the ')' output is right: only '(' can be wrong
        return "other"
    if d == 0:
        return "at-zero"
    return "early" if 2 * d <= peak else "depth-dependent"


def peak_since_zero(depth: np.ndarray, t: int) -> int:
    """Max of depth over the tokens after the last k < t with depth[k] == 0, up to t."""
    zeros = np.flatnonzero(depth[:t] == 0)
    start = int(zeros[-1]) + 1 if zeros.size else 0
    return int(depth[start : t + 1].max())


def classify_failures(model, seqs, set_name: str = "zigzag", tr=None, out=None) -> list[dict]:
    """First failure of every failing sequence of `seqs`, classified.

    Returns [{"set", "sequence" (index in seqs), "position" (0-based index of the first
    wrong token = FPF), "depth" (true depth after it), "peak", "class"}], in sequence
    order; sequences with every token right have no record. `tr` may pass a precomputed
    `trace_batch(model, seqs)` to save its cost, or `out` just the model's outputs
    (B, T, 2) (T = the longest sequence; positions past a sequence's end are ignored).
    """
    seqs = list(seqs)
    if not seqs:
        return []
    if out is None:
        if tr is None:
            tr = trace_batch(model, seqs)
        out, mask = tr["out"], tr.mask
        true = np.where(np.atleast_2d(tr.mask), np.atleast_2d(tr["depth"]), -1)  # (B, T)
    else:
        true = true_counter(model.cell, seqs)  # (B, T)
        out = np.asarray(out, dtype=np.float64)
        if out.shape != (*true.shape, 2):
            raise ValueError(f"out must have shape {(*true.shape, 2)}, got {out.shape}")
        lengths = np.array([len(s) for s in seqs])
        mask = np.arange(true.shape[1]) < lengths[:, None]
    pred = out > THRESHOLD
    target1 = true > 0
    wrong = (~pred[..., 0]) | (pred[..., 1] != target1) | ~np.all(np.isfinite(out), axis=-1)
    wrong &= mask
    records = []
    for b in np.flatnonzero(wrong.any(axis=1)):
        t = int(np.argmax(wrong[b]))
        d = int(true[b, t])
        peak = peak_since_zero(true[b], t)
        records.append({
            "set": set_name, "sequence": int(b), "position": t, "depth": d, "peak": peak,
            "class": classify(out[b, t], d, peak),
        })
    return records


def summarize_classes(failures) -> dict:
    """{"early": n, "at-zero": n, "depth-dependent": n, "other": n} over failure records."""
    counts = dict.fromkeys(CLASSES, 0)
    for rec in failures:
        counts[rec["class"]] += 1
    return counts


def no_counter_reason(unit_step, failures, n_sequences: int) -> str | None:
    """Why a model has no counter to diagnose, or None when it has one.

    unit_step: the measured unit step (`probes.counter.step_summary`; NaN or None when the
    counting variable does not move); failures: the first-failure records of all
    `n_sequences` probe sequences."""
    if unit_step is None or not np.isfinite(unit_step):
        return "its counter does not move (no step on '(' at low depth)"
    if n_sequences and len(failures) == n_sequences and all(
            f["position"] == 0 for f in failures):
        return "it classifies nothing right (every probe sequence fails at its first token)"
    return None


def verdict(summary: dict, no_counter: str | None = None) -> str:
    """The dominant class of a summary, or "no failure"; ties go to the first in CLASSES.
    "no counter" when `no_counter` (a reason from `no_counter_reason`) is given."""
    if no_counter:
        return NO_COUNTER
    total = sum(summary.get(c, 0) for c in CLASSES)
    if total == 0:
        return "no failure"
    return max(CLASSES, key=lambda c: (summary.get(c, 0), -CLASSES.index(c)))
