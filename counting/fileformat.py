"""Dataset files in the authors' published format, and atomic file writing.

One sequence a line: `SEQ,LABELS`, where LABELS[t] is '1' if the depth after token t is > 0
and '0' otherwise. The authors' own files carry a third field (sometimes containing commas),
which the reader accepts and ignores: `SEQ,LABELS,anything...`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from counting.dyck import DyckError, labels


class DatasetFileError(ValueError):
    """A dataset file is missing or a line of it is malformed; names the file and line."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success rename it over `path` atomically.

    On error the temporary file is removed and an existing `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def write_sequences(path: str | os.PathLike, seqs: list[str]) -> None:
    """Write `SEQ,LABELS` lines atomically."""
    write_text_atomic(path, "".join(f"{s},{labels(s)}\n" for s in seqs))


def read_sequences(path: str | os.PathLike) -> list[str]:
    """Read a dataset file; every line's labels are checked against its sequence.

    Raises DatasetFileError with the file name and 1-based line number on a malformed line.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path}: no such dataset file")
    seqs = []
    with path.open() as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split(",", 2)
            if len(parts) < 2:
                raise DatasetFileError(f"{path}:{lineno}: expected 'SEQ,LABELS', got {line[:60]!r}")
            seq, lab = parts[0].strip(), parts[1].strip()
            try:
                expected = labels(seq)
            except DyckError as err:
                raise DatasetFileError(f"{path}:{lineno}: bad sequence: {err}") from None
            if lab != expected:
                if len(lab) != len(seq):
                    why = f"{len(lab)} labels for {len(seq)} tokens"
                else:
                    t = next(i for i, (a, b) in enumerate(zip(lab, expected)) if a != b)
                    why = f"label {lab[t]!r} at token {t} but the depth there says {expected[t]!r}"
                raise DatasetFileError(f"{path}:{lineno}: labels disagree with sequence: {why}")
            seqs.append(seq)
    return seqs
