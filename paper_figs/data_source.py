"""Which five sets a reproduction uses, and a record of them for its report.

    source = generated_data("paper", seed=0)        # counting.datasets.make_datasets
    source = given_data("authors_split/")            # the set files `counting data` writes
    source = DataSource(sets, {"source": "given", "path": ...})   # sets already in memory
    source.record()   # -> results/data.json: where the sets came from, sizes, fingerprints

A reproduction (`paper_figs.reproduce.reproduce(..., data=source)`) and anything built on
it take a DataSource, so the same sets can be reused without reading them again.

Fingerprints: each set's is the sha256 of its words joined by newlines (the same as the
per-set fingerprints in a sweep's sweep.json); the data's is the sha256 of the five set
fingerprints, one per line in SET_NAMES order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from counting.datasets import SET_NAMES, load_datasets, make_datasets
from counting.paths import open_regular

PROVENANCE = "provenance.json"  # written beside the set files by `counting data --from-authors`


@dataclass(frozen=True)
class DataSource:
    """The five sets {name: words} and where they came from: {"source": "generated",
    "profile", "seed"} or {"source": "given", "path", "provenance" (or None)}."""

    sets: dict[str, list[str]]
    origin: dict = field(default_factory=dict)

    def __post_init__(self):
        missing = [n for n in SET_NAMES if not self.sets.get(n)]
        if missing:
            where = self.origin.get("path") or "the given data"
            raise ValueError(f"{where}: no words in set(s) {', '.join(missing)}; "
                             f"a reproduction needs all of {', '.join(SET_NAMES)}")

    def record(self) -> dict:
        """The JSON record of results/data.json: origin, sizes and fingerprints."""
        sets = fingerprints(self.sets)
        return {
            **self.origin,
            "sets": {n: sets[n] for n in SET_NAMES},
            "sha256": combined_fingerprint(sets),
        }


def fingerprints(sets: dict[str, list[str]]) -> dict:
    """{name: {"n": number of words, "sha256": of the words joined by newlines}}."""
    return {k: {"n": len(v), "sha256": hashlib.sha256("\n".join(v).encode()).hexdigest()}
            for k, v in sets.items()}


def combined_fingerprint(per_set: dict) -> str:
    """sha256 of the five set fingerprints, one per line in SET_NAMES order."""
    lines = "".join(f"{per_set[n]['sha256']}\n" for n in SET_NAMES)
    return hashlib.sha256(lines.encode()).hexdigest()


def generated_data(profile: str, seed: int, progress: bool = True) -> DataSource:
    """The sets `counting data --profile PROFILE --seed SEED` writes."""
    sets = make_datasets(profile, seed, progress=progress)
    return DataSource(sets, {"source": "generated", "profile": profile, "seed": seed})


def given_data(path) -> DataSource:
    """The five set files of directory `path` (train.txt ... zigzag.txt, as `counting data`
    writes them; the authors' three-field lines are accepted too). A provenance.json beside
    them (from `counting data --from-authors`) is kept in the record."""
    path = Path(path)
    sets = load_datasets(path, SET_NAMES, required=SET_NAMES)
    return DataSource(sets, {"source": "given", "path": str(path),
                             "provenance": _provenance(path / PROVENANCE)})


def _provenance(path: Path):
    """The JSON of `path`, or None where there is no entry at all. One that is there but
    cannot be read (a directory, a dangling link, a FIFO, ...) raises PathError `cannot read
    <path>: <reason>`; one that is not JSON, ValueError naming it."""
    try:
        fh = open_regular(path)
    except FileNotFoundError:
        return None
    with fh:
        raw = fh.read()
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a JSON provenance record ({err})") from None
