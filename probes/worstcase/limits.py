"""Which max_length verify accepts, and where to look beyond it.

The search visits about N^2 / 8 cells (position t, depth d with t + 1 + d <= N), two boxes
per cell, and keeps two rows of at most N / 2 + 3 cells in memory, so memory is never the
limit; time is. On one core of this shared 2-core machine (load ~4) a model that never
fails (every cell is visited) takes about 0.2 us per box for a ReLU and 0.4 us for an LSTM:
N = 10^4 in about 5 s / 10 s, N = 10^5 in about 8 / 16 minutes (a progress bar shows it).
A trained model stops at its first failure, usually within milliseconds. Hidden size > 1
is plain numpy, one row at a time, and limited to 10^4. Beyond these the closed-form
first-order bound answers in microseconds: `constructions.affine.nested_failure_depth`
(the nesting depth at which the model's affine counter first fails; reported by
`constructions.conditions.distance_from_ideal` as predicted_nested_failure_depth).
"""

from __future__ import annotations

import numbers

MAX_LENGTH = 100_000
MAX_LENGTH_WIDE = 10_000


def max_length_for(model) -> int:
    return MAX_LENGTH if model.hidden_size == 1 else MAX_LENGTH_WIDE


def closed_form_hint(model) -> str:
    """A sentence pointing to the closed-form bound, with its value where it applies."""
    where = ("constructions.affine.nested_failure_depth(model), the first-order closed form "
             "(distance_from_ideal's predicted_nested_failure_depth)")
    if model.hidden_size != 1:
        return f"for longer words see {where}; it needs hidden size 1"
    try:
        from constructions.affine import nested_failure_depth

        D = nested_failure_depth(model)
    except (ValueError, ArithmeticError):
        return f"for longer words use {where}"
    if D is None:
        told = "predicts no nested word fails below 2^53 tokens"
    else:
        told = f"predicts nested words first fail at depth {D} ({2 * D} tokens)"
    return f"for longer words use {where}: it {told}"


def check_max_length(model, max_length) -> None:
    """Raise ValueError (one actionable line) unless 2 <= max_length <= the limit."""
    if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral):
        raise ValueError(f"max_length must be an integer, got {max_length!r}")
    max_length = int(max_length)
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2 (the shortest Dyck word has 2 tokens), "
                         f"got {max_length}")
    top = max_length_for(model)
    if max_length > top:
        raise ValueError(
            f"max_length {max_length:,} is beyond what verify explores for hidden size "
            f"{model.hidden_size} (at most {top:,} tokens: about N^2/8 cells); "
            f"{closed_form_hint(model)}")
