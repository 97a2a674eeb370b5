"""Failure classes of a sequence's first failure, and a run's verdict from their counts.

The classes are those of the probes' `counting diagnose` (issue [probes]), computed from the
sequence alone - the exact counter equals the true depth. With d the true depth after the
failing token and P the peak depth since the depth was last 0 (up to that token):

    at-zero          d = 0 and the model says ')' may follow (counter did not return to zero)
    early            0 < d <= P/2 and the model says ')' may not follow (reached zero too soon)
    depth-dependent  d > P/2 and the model says ')' may not follow
    other            output 1 right but output 0 ('(' may follow) wrong

A run's verdict names the most frequent class over the very-long set's failures (ties go to the
first in the order above), "no failure" when every sequence is right, and "diverged" when the
run has no valid model (its loss was not finite before any epoch finished).
"""

from __future__ import annotations

import numpy as np

CLASSES = ("at-zero", "early", "depth-dependent", "other")
NO_FAILURE = "no failure"
DIVERGED = "diverged"


def verdict(counts) -> str:
    """counts: (4,) failures per class, in CLASSES order -> the run's verdict."""
    counts = np.asarray(counts)
    if counts.shape != (len(CLASSES),):
        raise ValueError(f"expected {len(CLASSES)} class counts, got shape {counts.shape}")
    if counts.sum() == 0:
        return NO_FAILURE
    return CLASSES[int(np.argmax(counts))]


def verdicts(counts: np.ndarray, valid: np.ndarray) -> list[str]:
    """counts (M, 4), valid (M,) bool -> one verdict per run."""
    return [verdict(c) if ok else DIVERGED for c, ok in zip(counts, valid)]
