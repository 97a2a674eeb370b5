"""The paper's datasets (Section 2), as named, seeded, pairwise-disjoint splits.

Faithful to the authors' published code where the paper is silent:
- train and validation are ordered slices of ONE deduplicated PCFG generation of lengths
  2-50: train = words 1-10,000, validation = words 15,001-20,000 (words 10,001-15,000 are
  generated and discarded, as theirs were). Because deduplication is ordered, almost all
  very short words land in train - as in their files.
- long = a separate generation of lengths 52-100;
- very_long = the PCFG conditioned on length exactly 1000 (their filter of PCFG samples to
  length 1000 amounts to that), deduplicated;
- zigzag = j '(' then j ')' repeated to 2000 tokens, j in ZIGZAG_J.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from counting.fileformat import read_sequences, write_sequences
from counting.generators import conditioned_pcfg_words, pcfg_words, zigzag

SET_NAMES = ("train", "validation", "long", "very_long", "zigzag")
ZIGZAG_J = (10, 20, 25, 50, 100, 125, 200, 250, 500, 1000)


@dataclass(frozen=True)
class Profile:
    """Sizes of the five sets. `short_skip` words are generated between train and validation."""

    train: int
    validation: int
    short_skip: int
    short_len: tuple[int, int]
    long: int
    long_len: tuple[int, int]
    very_long: int
    very_long_len: int
    zigzag_j: tuple[int, ...]
    zigzag_len: int


PROFILES = {
    "paper": Profile(
        train=10_000,
        validation=5_000,
        short_skip=5_000,
        short_len=(2, 50),
        long=5_000,
        long_len=(52, 100),
        very_long=100,
        very_long_len=1000,
        zigzag_j=ZIGZAG_J,
        zigzag_len=2000,
    ),
    # Tiny sizes on the same code path, for tests and CI.
    "smoke": Profile(
        train=200,
        validation=100,
        short_skip=50,
        short_len=(2, 50),
        long=50,
        long_len=(52, 100),
        very_long=6,
        very_long_len=200,
        zigzag_j=(10, 20, 25, 50, 100),
        zigzag_len=200,
    ),
}


def with_train_lengths(profile: Profile, lo: int, hi: int) -> Profile:
    """`profile` with training and validation lengths lo-hi and long lengths (hi+2)-2hi
    (`counting data --train-lengths lo-hi`; 2-50 gives the paper's 52-100).
    ValueError unless 2 <= lo <= hi."""
    if not (isinstance(lo, int) and isinstance(hi, int) and 2 <= lo <= hi):
        raise ValueError(f"training lengths must be A-B with 2 <= A <= B, got {lo}-{hi}")
    return replace(profile, short_len=(lo, hi), long_len=(hi + 2, 2 * hi))


def provenance(profile: str, seed: int, train_lengths: tuple[int, int] | None = None) -> dict:
    """What `counting data` records in DATA/dataset.json: {"profile", "seed",
    "train_lengths": [A, B], "long_lengths": [A', B']} (the lengths actually used)."""
    prof = PROFILES[profile]
    if train_lengths is not None:
        prof = with_train_lengths(prof, *train_lengths)
    return {"profile": profile, "seed": seed, "train_lengths": list(prof.short_len),
            "long_lengths": list(prof.long_len)}


def make_datasets(profile: str | Profile = "paper", seed: int = 0, progress: bool = True,
                  train_lengths: tuple[int, int] | None = None):
    """Generate the five sets -> {name: list of words}. Same seed, same sets.

    train_lengths (A, B): train and validation lengths A-B and long lengths (B+2)-2B instead
    of the profile's (`with_train_lengths`); None keeps the profile's (paper: 2-50, 52-100).
    """
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    if train_lengths is not None:
        prof = with_train_lengths(prof, *train_lengths)
    rng = np.random.default_rng(seed)
    total = prof.train + prof.short_skip + prof.validation + prof.long + prof.very_long
    with tqdm(total=total, desc="datasets", unit="word", disable=not progress) as bar:
        short = pcfg_words(
            rng,
            prof.train + prof.short_skip + prof.validation,
            *prof.short_len,
            progress=bar.update,
        )
        long_ = pcfg_words(rng, prof.long, *prof.long_len, progress=bar.update)
        very_long = conditioned_pcfg_words(
            rng,
            prof.very_long,
            prof.very_long_len,
            exclude=frozenset(long_),
            progress=bar.update,
        )
    return {
        "train": short[: prof.train],
        "validation": short[prof.train + prof.short_skip :],
        "long": long_,
        "very_long": very_long,
        "zigzag": [zigzag(j, prof.zigzag_len) for j in prof.zigzag_j],
    }


def write_datasets(out_dir: str | Path, sets: dict[str, list[str]]) -> list[Path]:
    """Write each set to OUT_DIR/<name>.txt atomically; returns the paths written."""
    out_dir = Path(out_dir)
    paths = []
    for name, seqs in sets.items():
        path = out_dir / f"{name}.txt"
        write_sequences(path, seqs)
        paths.append(path)
    return paths


def _absent(path: Path) -> bool:
    """No entry at all at `path` (os.lstat: a dangling symbolic link is there). One that
    cannot even be looked at (no search permission on the way) is not absent: reading it
    says why."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def load_datasets(data_dir: str | Path, names=SET_NAMES, required=()) -> dict[str, list[str]]:
    """Read the set files present in DATA_DIR -> {stem: words}.

    A set file that is absent (no entry at all, not even a dangling symbolic link) is
    skipped, unless it is `required`: FileNotFoundError `<path>: required set file is
    missing`. One that is there but cannot be read - a directory, a dangling symbolic link,
    a FIFO or device (never opened and waited on), no read permission - raises PathError
    `cannot read <path>: <reason>`, required or not; bad content raises DatasetFileError.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"{data_dir}: no such data directory (make one with `counting data`)"
        )
    out = {}
    for name in names:
        path = data_dir / f"{name}.txt"
        if _absent(path):
            if name in required:
                raise FileNotFoundError(f"{path}: required set file is missing")
            continue
        out[name] = read_sequences(path)  # "cannot read" if there but unusable
    return out
