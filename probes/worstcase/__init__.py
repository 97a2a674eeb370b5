"""The worst case over *all* Dyck words: certified length and the shortest word a model gets
wrong (issue 10; `counting verify`, docs/verify.md).

    probes.verify(model, max_length=1000, progress=False) -> dict

It considers every Dyck-1 word of length <= max_length and every token of it, with the
README's token rule (output 0 > 0.5 always; output 1 > 0.5 iff the depth after the token
is > 0; NaN is wrong), and returns

    {"cell", "hidden_size", "dtype", "max_length",
     "certified_length"   the largest even L <= max_length such that every token of every
                          Dyck word of length <= L is right (a certificate),
     "shortest_failure"   None, or a shortest balanced Dyck word with a wrong token, replayed
                          on the torch module: {"word", "length", "position" (its first
                          wrong token, 0-based), "depth" (true depth after it), "peak",
                          "class" (probes.failures.classify), "outputs" (the two
                          probabilities there), "run_length" (witness.run_length)},
     "exact"              the two meet: length == certified_length + 2, or no failure and
                          certified_length == max_length rounded down to even,
     "method"             "exact" | "bound",
     "states"             enclosure boxes computed (all passes),
     "seconds"}           wall time.

What is proved, and what is assumed about torch's arithmetic (`numerics`): docs/verify.md.

Modules: numerics (error model, interval-with-error arithmetic), cells (one token on a box
and on a state, hidden size 1), rows (one row of the (position, depth) search: clusters,
numba), search (levels, bound, rebuilding words), witness (replay on torch), wide (hidden
size > 1), report (the dict and its sentence), limits (what lengths are accepted).
"""

from __future__ import annotations

import time

from probes.worstcase.limits import check_max_length
from probes.worstcase.report import build, summary_line

# Clusters per cell, tried in turn until the certificate and the witness meet. A ReLU
# needs one (its maps are monotone: the extremes are exact).
SCHEDULE = {"relu": (1,), "gru": (2, 8, 32), "lstm": (2, 8, 32)}
REFINE_BUDGET = 4e7  # a refinement pass is skipped if it would compute more boxes than this


def verify(model, max_length: int = 1000, progress: bool = False) -> dict:
    """Certified length and shortest failing Dyck word of `model` over every Dyck word of
    length <= max_length (see the module docstring for the dict). Raises ValueError for a
    max_length outside [2, limits.max_length_for(model)]."""
    from counting.models import CounterRNN

    if not isinstance(model, CounterRNN):
        raise TypeError(f"expected a counting.models.CounterRNN, got {type(model).__name__}")
    check_max_length(model, max_length)
    max_length = int(max_length)
    start = time.perf_counter()
    top = max_length - max_length % 2
    if model.hidden_size == 1:
        certified, failure, states = _verify_h1(model, top, progress)
    else:
        from probes.worstcase.wide import verify_wide

        certified, failure, states = verify_wide(model, top, progress)
    return build(model, max_length, certified, failure, states,
                 time.perf_counter() - start)


def _verify_h1(model, top: int, progress: bool) -> tuple[int, dict | None, int]:
    """Hidden size 1: searches with more clusters per cell until certificate and witness
    meet (or the budget ends). -> (certified, failure, states)."""
    from probes.worstcase.cells import CELL_IDS, cell_params
    from probes.worstcase.numerics import numeric_config
    from probes.worstcase.search import make_pairs, search

    cell_id, P = CELL_IDS[model.cell], cell_params(model)
    num = numeric_config(model.dtype, model.cell if model.cell != "relu" else None)
    certified, failure, states = 0, None, 0
    bound, last = top, None
    for K in SCHEDULE[model.cell]:
        if last is not None:
            grow = (K / last.K) * (bound / max(last.bound, 1)) ** 2
            if last.states * grow > REFINE_BUDGET:
                break
        run = search(model, make_pairs(cell_id, P, num, K), bound, progress,
                     desc=f"verify K={K}")
        states += run.states
        if run.failure is not None and (failure is None
                                        or run.failure["length"] < failure["length"]):
            failure = run.failure
        certified = max(certified, run.certified)
        if failure is not None and certified > failure["length"] - 2:
            raise RuntimeError(
                f"internal error: certified length {certified} but {failure['word']!r} fails "
                "on the torch module; please report it")
        if (failure is None and certified >= top) or (
                failure is not None and certified == failure["length"] - 2):
            break
        bound = failure["length"] - 2 if failure is not None else top
        last = run
    return certified, failure, states


__all__ = ["summary_line", "verify"]
