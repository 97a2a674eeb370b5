"""The Dyck-1 language: validation, depth profiles, per-token targets and encodings.

A Dyck-1 word is a string over '(' and ')' that never closes more brackets than it has
opened and ends at depth 0. The task (Suzgun et al. 2019) classifies, after every token,
which tokens may follow:

    target[t] = [1, depth_after(t) > 0]     # ['(' may follow, ')' may follow]

Inputs are one-hot: '(' = [1, 0], ')' = [0, 1]. Everything here is vectorised with numpy so
that words of 10^6 tokens cost milliseconds.
"""

from __future__ import annotations

import numpy as np

OPEN = "("
CLOSE = ")"
_OPEN_BYTE = ord(OPEN)
_CLOSE_BYTE = ord(CLOSE)


class DyckError(ValueError):
    """A string is not a (balanced) Dyck-1 word; the message names the position and problem."""


def _as_bytes(seq: str) -> np.ndarray:
    if not isinstance(seq, str):
        raise DyckError(f"expected a bracket string, got {type(seq).__name__}")
    try:
        raw = seq.encode("ascii")
    except UnicodeEncodeError as err:
        raise DyckError(
            f"non-bracket character {seq[err.start]!r} at position {err.start}; "
            "only '(' and ')' are allowed"
        ) from None
    return np.frombuffer(raw, dtype=np.uint8)


def tokens(seq: str) -> np.ndarray:
    """Token ids, shape (L,), int8: 0 for '(' and 1 for ')'.

    Raises DyckError naming the first character that is not a bracket.
    """
    b = _as_bytes(seq)
    bad = np.flatnonzero((b != _OPEN_BYTE) & (b != _CLOSE_BYTE))
    if bad.size:
        i = int(bad[0])
        raise DyckError(
            f"non-bracket character {seq[i]!r} at position {i}; only '(' and ')' are allowed"
        )
    return (b == _CLOSE_BYTE).astype(np.int8)


def depth_profile(seq: str) -> np.ndarray:
    """Depth after each token, shape (L,), int64. Does not require the word to be balanced."""
    tok = tokens(seq)
    return np.cumsum(1 - 2 * tok.astype(np.int64))


def validate(seq: str, *, balanced: bool = True) -> np.ndarray:
    """Check that `seq` is a Dyck-1 word (a prefix of one if `balanced=False`).

    Returns the depth profile, shape (L,). Raises DyckError naming the first non-bracket
    character, the first position where the depth goes negative, or the final depth.
    """
    depth = depth_profile(seq)
    neg = np.flatnonzero(depth < 0)
    if neg.size:
        i = int(neg[0])
        raise DyckError(f"depth goes negative at position {i}: ')' closes a bracket never opened")
    if balanced and depth.size and depth[-1] != 0:
        raise DyckError(
            f"unbalanced word: final depth is {int(depth[-1])} (it must end at depth 0)"
        )
    return depth


def is_dyck(seq: str) -> bool:
    """True iff `seq` is a balanced Dyck-1 word."""
    try:
        validate(seq)
    except DyckError:
        return False
    return True


def labels(seq: str) -> str:
    """The authors' label string: character t is '1' if depth after token t > 0 else '0'."""
    depth = validate(seq, balanced=False)
    return ((depth > 0).astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def targets(seq: str, dtype=np.float64) -> np.ndarray:
    """Per-token targets, shape (L, 2): [1, depth_after > 0]."""
    depth = validate(seq, balanced=False)
    out = np.ones((depth.size, 2), dtype=dtype)
    out[:, 1] = depth > 0
    return out


def one_hot(seq: str, dtype=np.float64) -> np.ndarray:
    """One-hot inputs, shape (L, 2): '(' = [1, 0], ')' = [0, 1]."""
    tok = tokens(seq)
    out = np.zeros((tok.size, 2), dtype=dtype)
    out[np.arange(tok.size), tok] = 1
    return out
