"""Word sets as flat token arrays for the numba kernels.

`pack_words(words) -> (toks, offs)`: toks (int8, total length; 0 = '(', 1 = ')'), offs
((n+1,) int64): word s is toks[offs[s]:offs[s+1]]. `EvalSet`: a set sorted for the
prefix-sharing evaluation kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from counting.dyck import tokens


def pack_words(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """-> (toks, offs) for `words` in their order. Raises DyckError on a non-bracket."""
    offs = np.zeros(len(words) + 1, dtype=np.int64)
    offs[1:] = np.cumsum([len(w) for w in words])
    return tokens("".join(words)), offs


@dataclass
class EvalSet:
    """A set prepared for the kernels.

    toks (int8, sum of lengths), offs (n+1,) int64: words in sorted order; lcp (n,) int64:
    common prefix length with the previous sorted word (0 for the first); index (n,) int64:
    position of each sorted word in the input list; lengths (n,) int64 in input order.
    """

    toks: np.ndarray
    offs: np.ndarray
    lcp: np.ndarray
    index: np.ndarray
    lengths: np.ndarray
    max_len: int

    @classmethod
    def from_words(cls, words: list[str]) -> EvalSet:
        words = list(words)
        if not words:
            raise ValueError("cannot evaluate on an empty set")
        index = np.array(sorted(range(len(words)), key=words.__getitem__), dtype=np.int64)
        srt = [words[i] for i in index]
        lengths = np.array([len(w) for w in words], dtype=np.int64)
        if lengths.min() < 1:
            raise ValueError("cannot evaluate an empty word")
        lcp = np.zeros(len(words), dtype=np.int64)
        for s in range(1, len(srt)):
            a, b = srt[s - 1], srt[s]
            n = min(len(a), len(b))
            j = 0
            while j < n and a[j] == b[j]:
                j += 1
            lcp[s] = j
        toks, offs = pack_words(srt)
        return cls(toks, offs, lcp, index, lengths, int(lengths.max()))
