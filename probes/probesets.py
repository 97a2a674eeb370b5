"""The probe sets a diagnosis runs on.

Default (generated, fixed seed, cached):
- zigzag: j '(' then j ')' repeated to 2000 tokens, j in the paper's ZIGZAG_J;
- nested: '(' * D + ')' * D for D in NESTED_DEPTHS (the deepest words of their length);
- very_long: VERY_LONG_N words of the Suzgun PCFG conditioned on length 1000 (seed 0).
From a data directory (`counting data`): its zigzag.txt and very_long.txt, plus the
generated nested set (a data directory has none).
"""

from __future__ import annotations

import functools

import numpy as np

from counting.datasets import ZIGZAG_J, load_datasets
from counting.generators import conditioned_pcfg_words, nested, zigzag

PROBE_SEED = 0
NESTED_DEPTHS = (10, 20, 50, 100, 200, 500, 1000)
VERY_LONG_N = 20
VERY_LONG_LEN = 1000
ZIGZAG_LEN = 2000
DATA_SETS = ("zigzag", "very_long")


@functools.lru_cache(maxsize=1)
def _default() -> tuple[tuple[str, tuple[str, ...]], ...]:
    rng = np.random.default_rng(PROBE_SEED)
    return (
        ("zigzag", tuple(zigzag(j, ZIGZAG_LEN) for j in ZIGZAG_J)),
        ("nested", tuple(nested(d) for d in NESTED_DEPTHS)),
        ("very_long", tuple(conditioned_pcfg_words(rng, VERY_LONG_N, VERY_LONG_LEN))),
    )


def default_probe_sets() -> dict[str, list[str]]:
    """{"zigzag", "nested", "very_long": list of words}, the same on every call."""
    return {name: list(seqs) for name, seqs in _default()}


def load_probe_sets(data_dir) -> dict[str, list[str]]:
    """zigzag and very_long from DATA_DIR (at least one must exist) plus the nested set."""
    sets = load_datasets(data_dir, DATA_SETS)
    if not sets:
        raise FileNotFoundError(
            f"{data_dir}: neither zigzag.txt nor very_long.txt found (make them with "
            "`counting data`)"
        )
    sets["nested"] = [nested(d) for d in NESTED_DEPTHS]  # as default_probe_sets()'s (not
    return sets  # generating its PCFG words, ~1 s, only to drop them)


def zigzag_j(seq: str) -> int:
    """Length of the first run of '(' (j for a zigzag word)."""
    k = seq.find(")")
    return len(seq) if k < 0 else k


def pick_zigzag(seqs, j: int = 500) -> int:
    """Index of the word of `seqs` whose first run is closest to j (ties: the first)."""
    if not seqs:
        raise ValueError("no sequences to pick from")
    return int(np.argmin([abs(zigzag_j(s) - j) for s in seqs]))
