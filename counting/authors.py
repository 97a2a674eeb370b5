"""The paper's own data split, assembled from a local clone of the authors' repository
(github.com/nadineelnaggar/Plain-RNN-Counter-Experiments):

    train       lines 1-10,000 of Dyck1_Dataset_Suzgun_train_.txt
    validation  lines 15,001-20,000 of the same file
    long        lines 1-5,000 of Dyck1_Dataset_Suzgun_test_.txt
    very_long   the distinct words of exactly 1000 tokens in Dyck1_Dataset_Suzgun_1000tokens_3
                to _6.txt, in file order (55 words; the first _1000tokens.txt holds words of
                502-974 tokens and is not the paper's set)
    zigzag      all of Dyck1_Dataset_Suzgun_2000tokens_zigzag.txt

    sets, provenance = authors_split(clone)
    write_authors_split(clone, out_dir)   # the five set files + provenance.json

Lines are `seq,label,third-field`; `counting.fileformat.read_sequences` reads and checks
them. Line numbers count every line of the file (1-based, inclusive). Nothing of the
authors' is copied into this project; the split is rebuilt from the user's own clone.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from counting.datasets import SET_NAMES, write_datasets
from counting.fileformat import read_sequences, write_json_atomic

REPOSITORY = "nadineelnaggar/Plain-RNN-Counter-Experiments"
PROVENANCE = "provenance.json"
VERY_LONG_LENGTH = 1000
DISTINCT = ("very_long",)  # sets whose repeated words are kept once


@dataclass(frozen=True)
class Part:
    """Lines first..last (1-based, inclusive; None = to the end) of `file`; with `length`,
    only the words of that length are kept."""

    file: str
    first: int = 1
    last: int | None = None
    length: int | None = None


SPLIT: dict[str, tuple[Part, ...]] = {
    "train": (Part("Dyck1_Dataset_Suzgun_train_.txt", 1, 10_000),),
    "validation": (Part("Dyck1_Dataset_Suzgun_train_.txt", 15_001, 20_000),),
    "long": (Part("Dyck1_Dataset_Suzgun_test_.txt", 1, 5_000),),
    "very_long": tuple(
        Part(f"Dyck1_Dataset_Suzgun_1000tokens_{k}.txt", length=VERY_LONG_LENGTH)
        for k in (3, 4, 5, 6)
    ),
    "zigzag": (Part("Dyck1_Dataset_Suzgun_2000tokens_zigzag.txt"),),
}


def _lines_of_words(path: Path) -> list[int]:
    """The 1-based line number of each word `read_sequences` returns (it skips blank lines)."""
    with path.open() as fh:
        return [n for n, line in enumerate(fh, 1) if line.strip()]


def _read_part(clone: Path, part: Part) -> tuple[list[str], dict]:
    path = clone / part.file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the clone of {REPOSITORY}")
    words = read_sequences(path)
    numbers = _lines_of_words(path)
    have = numbers[-1] if numbers else 0
    last = have if part.last is None else part.last
    if not numbers:
        raise ValueError(f"{path}: has no words")
    if have < last:
        raise ValueError(f"{path}: has {have} lines, the split needs lines {part.first}-{last}")
    chosen = [w for w, n in zip(words, numbers) if part.first <= n <= last]
    if part.length is not None:
        chosen = [w for w in chosen if len(w) == part.length]
    record = {
        "file": part.file,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "lines": [part.first, last],
        "words": len(chosen),
    }
    if part.length is not None:
        record["only_length"] = part.length
    return chosen, record


def _git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True,
                          check=True).stdout


def _git_commit(clone: Path, files: list[str]) -> tuple[str | None, list[str] | None]:
    """(HEAD commit, the files whose content differs from that commit's) if `clone` is a
    git work tree with git installed, else (None, None). Content is compared by blob id,
    so the state of the clone's index does not matter."""
    try:
        head = _git(clone, "rev-parse", "HEAD").strip()
        committed = {}
        for line in _git(clone, "ls-tree", "HEAD", "--", *files).splitlines():
            meta, path = line.split("\t", 1)
            committed[path] = meta.split()[2]
        ours = _git(clone, "hash-object", "--", *files).split()
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return None, None
    return head, [f for f, blob in zip(files, ours) if committed.get(f) != blob]


def authors_split(clone) -> tuple[dict[str, list[str]], dict]:
    """The five sets {name: words} of the paper's split from the clone at `clone`, and a
    provenance record (repository, commit, files with their sha256, line ranges, counts;
    not the clone's local path).

    The very-long set keeps each word once (first occurrence); the other sets are the lines
    as they are. A missing file raises FileNotFoundError naming it; a file too short for
    its line range raises ValueError.
    """
    clone = Path(clone)
    if not clone.is_dir():
        raise FileNotFoundError(f"{clone}: no such directory (a clone of {REPOSITORY})")
    sets, parts = {}, {}
    for name in SET_NAMES:
        words, records = [], []
        for part in SPLIT[name]:
            chosen, record = _read_part(clone, part)
            words += chosen
            records.append(record)
        if name in DISTINCT:
            words = list(dict.fromkeys(words))
        sets[name] = words
        parts[name] = {"words": len(words), "from": records}
    files = sorted({p.file for ps in SPLIT.values() for p in ps})
    commit, modified = _git_commit(clone, files)
    provenance = {  # what identifies the data, not where the clone sat
        "repository": REPOSITORY,
        "commit": commit,
        "modified_files": modified,
        "written_by": "counting data --from-authors",
        "sets": parts,
    }
    return sets, provenance


def write_split(out_dir, sets: dict[str, list[str]], provenance: dict) -> list[Path]:
    """Write the five set files (our `SEQ,LABELS` format) and provenance.json to OUT_DIR;
    returns the paths written."""
    paths = write_datasets(out_dir, sets)
    write_json_atomic(Path(out_dir) / PROVENANCE, provenance)
    return [*paths, Path(out_dir) / PROVENANCE]


def write_authors_split(clone, out_dir) -> list[Path]:
    """`authors_split(clone)` written to OUT_DIR (see `write_split`)."""
    return write_split(out_dir, *authors_split(clone))
