"""The affine counter model and its derived first failures (closed forms, no simulation),
for an `AffineCounter` or a hidden-size-1 CounterRNN.

The model, the closed forms and the float limit of an exact counter are explained, and
computed, in `constructions.closed_forms`; the functions here also take a CounterRNN, whose
counter they read with `constructions.conditions.affine_counter` (conditions builds on
closed_forms, not on this module: no import cycle).
"""

from __future__ import annotations

import numpy as np
import torch

from constructions import closed_forms as _forms
from constructions.closed_forms import INF, AffineCounter, float_limit, runs_of

__all__ = ["INF", "AffineCounter", "counter_values", "float_limit", "nested_failure_depth",
           "nested_first_failure", "predicted_first_failure", "runs_of"]


def _as_counter(obj) -> AffineCounter:
    if isinstance(obj, AffineCounter):
        return obj
    if isinstance(obj, torch.nn.Module):
        from constructions.conditions import affine_counter  # sympy: only when asked

        return affine_counter(obj)
    raise TypeError(f"expected an AffineCounter or a CounterRNN, got {type(obj).__name__}")


def predicted_first_failure(model_or_counter, seq: str) -> int | None:
    """0-based index of the first token whose ')'-output the counter gets wrong on the Dyck
    prefix `seq` (= its First Point of Failure), or None if none is predicted.

    model_or_counter: an AffineCounter (family parameters, e.g. AffineCounter.leaky(eps)) or a
    hidden-size-1 CounterRNN, turned into one by `conditions.affine_counter(model)` (exact for
    the constructions and any model whose gates do not read h, a frozen-gate first-order
    model for others). Only the ')'-output is modelled: output 0 is assumed right (it is a
    constant logit in the constructions; `distance_from_ideal` reports its worst logit).
    """
    return _forms.predicted_first_failure(_as_counter(model_or_counter), seq)


def nested_first_failure(model_or_counter, depth: int) -> int | None:
    """predicted_first_failure on nested(depth) = '('*depth + ')'*depth, without building it."""
    return _forms.nested_first_failure(_as_counter(model_or_counter), depth)


def nested_failure_depth(model_or_counter, cap: int = 2**53, scan: int = 1024) -> int | None:
    """Smallest D with a wrong token on nested(D) (None if none up to `cap`); the model's
    maximum correct nesting depth is D - 1 (`constructions.closed_forms.nested_failure_depth`:
    the float limit in closed form, the search up to `cap`)."""
    return _forms.nested_failure_depth(_as_counter(model_or_counter), cap, scan)


def counter_values(model_or_counter, seq, positions) -> np.ndarray:
    """The counter after token t for each t in `positions` (-1: before the first token),
    from the closed forms. seq: string or token ids; positions: int array -> float64 array."""
    return _forms.counter_values(_as_counter(model_or_counter), seq, positions)
