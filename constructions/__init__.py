"""Exact hand-built counters as ordinary `CounterRNN` models, perturbed families with derived
first failures, and sympy exactness conditions (`constructions.conditions`).

Public API:
    exact_counter(cell, dtype=torch.float64, *, logit_margin=5.0, gate_margin=2.0,
                  hidden_size=1)
    leaky_counter(cell, eps, dtype=torch.float64, *, logit_margin=5.0, gate_margin=2.0,
                  hidden_size=1)
    mismatched_relu(up=1.0, down=1.0, w_hh=1.0, dtype=torch.float64, *, logit_margin=5.0,
                    hidden_size=1)
                        hidden_size H > 1: the counter in unit 0, units 1..H-1 inert
    saturation_threshold(fn, dtype=torch.float64, kernel='all')
    kernel_values(fn, x, dtype=torch.float64, kernel='torch')
    AffineCounter                       the affine counter model u' = clip(a u + b) of a
                                        construction / family (AffineCounter.leaky(eps), ...)
    predicted_first_failure(model_or_counter, seq) -> int | None
    nested_first_failure(model_or_counter, depth) -> int | None
    nested_failure_depth(model_or_counter, cap=2**53) -> int | None
    counter_values(model_or_counter, seq, positions) -> np.ndarray
    float_limit(dtype) -> float         (2^24 / 2^53)
    conditions.distance_from_ideal(model) -> dict, conditions.affine_counter(model)
"""

from constructions.affine import (
    AffineCounter,
    counter_values,
    float_limit,
    nested_failure_depth,
    nested_first_failure,
    predicted_first_failure,
)
from constructions.builders import (
    exact_counter,
    gate_magnitudes,
    leaky_counter,
    mismatched_relu,
)
from constructions.saturation import kernel_values, saturation_threshold

__all__ = [
    "AffineCounter",
    "counter_values",
    "float_limit",
    "nested_failure_depth",
    "nested_first_failure",
    "predicted_first_failure",
    "exact_counter",
    "gate_magnitudes",
    "kernel_values",
    "leaky_counter",
    "mismatched_relu",
    "saturation_threshold",
]
