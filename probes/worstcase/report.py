"""The verify result: the JSON dict (the issue's keys, exactly) and its one-sentence summary."""

from __future__ import annotations

KEYS = ("cell", "hidden_size", "dtype", "max_length", "certified_length", "shortest_failure",
        "exact", "method", "states", "seconds")
FAILURE_KEYS = ("word", "length", "position", "depth", "peak", "class", "outputs",
                "run_length")
SHOWN_RUNS = 60  # characters of a run-length word shown in the summary sentence


def build(model, max_length: int, certified: int, failure: dict | None, states: int,
          seconds: float) -> dict:
    """The result dict. `certified`: every token of every Dyck word of length <= certified
    is right (even); `failure`: a replayed shortest failing word (`witness.replay`) or None.
    exact: the two meet - failure length == certified + 2, or no failure and certified ==
    max_length rounded down to even. method: "exact" for hidden size 1 when they meet; hidden
    size > 1 is always labelled "bound" (its search is not exhaustive by construction, even
    where certificate and witness happen to meet - `exact` then says so)."""
    from counting.models import dtype_name

    top = max_length - max_length % 2
    if failure is None:
        exact = certified >= top
    else:
        exact = failure["length"] == certified + 2
    return {
        "cell": model.cell,
        "hidden_size": int(model.hidden_size),
        "dtype": dtype_name(model.dtype),
        "max_length": int(max_length),
        "certified_length": int(min(certified, top)),
        "shortest_failure": None if failure is None else {k: failure[k] for k in FAILURE_KEYS},
        "exact": bool(exact),
        "method": "exact" if exact and model.hidden_size == 1 else "bound",
        "states": int(states),
        "seconds": round(float(seconds), 4),
    }


def _shown(run_length: str) -> str:
    if len(run_length) <= SHOWN_RUNS:
        return run_length
    return run_length[:SHOWN_RUNS].rsplit(" ", 1)[0] + " ..."


def summary_line(result: dict) -> str:
    """One sentence, e.g. "right on every Dyck word up to length 46; shortest word it gets
    wrong: (^24 )^24 (48 tokens), fails at token 46 (early)"."""
    cert, top = result["certified_length"], result["max_length"]
    fail = result["shortest_failure"]
    first = f"right on every Dyck word up to length {cert}"
    if result["exact"]:
        if fail is None:
            return f"{first} (the limit checked; no word up to it is wrong)"
        return (f"{first}; shortest word it gets wrong: {_shown(fail['run_length'])} "
                f"({fail['length']} tokens), fails at token {fail['position']} "
                f"({fail['class']})")
    undecided_to = (fail["length"] - 2) if fail else top - top % 2
    gap = f"lengths {cert + 2}-{undecided_to} undecided (method: bound)"
    if fail is None:
        return f"{first} (certified); no failing word found up to {top}; {gap}"
    return (f"{first} (certified); shortest failing word found: "
            f"{_shown(fail['run_length'])} ({fail['length']} tokens), fails at token "
            f"{fail['position']} ({fail['class']}); {gap}")
