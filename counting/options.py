"""Typed command-line values, checked when the command line is parsed.

Every `type=` function here raises `argparse.ArgumentTypeError` with the accepted range in
its message, so that a bad value ends as one line, e.g.

    counting train: error: argument --lr: must be a finite number > 0, got 'nan'

`OneLineParser` is the `ArgumentParser` the CLI uses: its errors print that one line (no
usage block) and exit with status 2.
"""

from __future__ import annotations

import argparse
import math


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, `<prog>: error: <message>`, exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def float_in(lo: float | None = None, hi: float | None = None, *, lo_open: bool = True,
             hi_open: bool = True):
    """A type function for a finite float in the interval (lo, hi) / [lo, hi] (None: no
    bound on that side)."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    if lo is not None and hi is not None:
        what = f"a finite number in {left}{lo:g}, {hi:g}{right}"
    elif lo is not None:
        what = f"a finite number {'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        what = f"a finite number {'<' if hi_open else '<='} {hi:g}"
    else:
        what = "a finite number"

    def check(text: str) -> float:
        x = _float(text)
        ok = math.isfinite(x)
        if ok and lo is not None:
            ok = x > lo if lo_open else x >= lo
        if ok and hi is not None:
            ok = x < hi if hi_open else x <= hi
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return x

    check.__name__ = "number"
    return check


def int_in(lo: int | None = None, hi: int | None = None):
    """A type function for an integer in [lo, hi] (None: no bound on that side)."""
    if lo is not None and hi is not None:
        what = f"an integer from {lo} to {hi}"
    elif lo is not None:
        what = f"an integer >= {lo}"
    elif hi is not None:
        what = f"an integer <= {hi}"
    else:
        what = "an integer"

    def check(text: str) -> int:
        x = _int(text)
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return x

    check.__name__ = "integer"
    return check


positive_float = float_in(0.0)  # finite, > 0
nonnegative_float = float_in(0.0, lo_open=False)  # finite, >= 0
unit_interval = float_in(0.0, 1.0)  # in (0, 1)
positive_int = int_in(1)  # >= 1
nonnegative_int = int_in(0)  # >= 0
seed_int = int_in(0, 2**64 - 1)  # a seed: torch.manual_seed takes 0 .. 2^64 - 1


def int_list(item, name: str = "value"):
    """A type function for a comma list of integers, each checked by the type function
    `item` (e.g. positive_int): '10,30,10' -> (10, 30, 10)."""

    def check(text: str) -> tuple[int, ...]:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {name}s, got {text!r}")
        out = []
        for p in parts:
            try:
                out.append(item(p))
            except argparse.ArgumentTypeError as err:
                raise argparse.ArgumentTypeError(f"{name} {p!r}: {err}") from None
        return tuple(out)

    check.__name__ = "list"
    return check


def choice_list(choices, name: str = "value"):
    """A type function for a comma list of distinct names among `choices`."""

    def check(text: str) -> tuple[str, ...]:
        parts = tuple(p.strip() for p in text.split(","))
        bad = [p for p in parts if p not in choices]
        if not text.strip() or bad or len(set(parts)) != len(parts):
            raise argparse.ArgumentTypeError(
                f"expected a comma list of distinct {name}s among {', '.join(choices)}, "
                f"got {text!r}")
        return parts

    check.__name__ = "list"
    return check




def length_range(text: str) -> tuple[int, int]:
    """A type function for a word-length range "A-B" with 2 <= A <= B -> (A, B)."""
    parts = text.split("-")
    try:
        lo, hi = (int(x) for x in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None:
        raise argparse.ArgumentTypeError(f"expected a length range A-B, got {text!r}")
    if not 2 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"must be A-B with 2 <= A <= B, got {text!r}")
    return lo, hi


length_range.__name__ = "length range"


MAX_SEEDS = 100_000  # seeds in one seed range (a guard against a typo's endless run)


def seed_range(text: str) -> range:
    """A type function for seeds "A:B" = A, A+1, ..., B-1, integers with 0 <= A < B <= 2^64
    (each a valid --seed), at most MAX_SEEDS of them -> range(A, B)."""
    parts = text.split(":")
    try:
        lo, hi = (int(x) for x in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None:
        raise argparse.ArgumentTypeError(
            f"expected a seed range A:B (seeds A to B-1), got {text!r}")
    if not (0 <= lo < hi <= 2**64 and hi - lo <= MAX_SEEDS):
        raise argparse.ArgumentTypeError(
            f"must be A:B with integers 0 <= A < B <= 2^64 and B - A <= {MAX_SEEDS} "
            f"(seeds A to B-1), got {text!r}")
    return range(lo, hi)


seed_range.__name__ = "seed range"

__all__ = [
    "OneLineParser", "choice_list", "float_in", "int_in", "int_list", "length_range",
    "nonnegative_float", "nonnegative_int", "positive_float", "positive_int", "seed_int",
    "seed_range", "unit_interval",
]

