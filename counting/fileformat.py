"""Dataset files in the authors' published format, and atomic file writing.

One sequence a line: `SEQ,LABELS`, where LABELS[t] is '1' if the depth after token t is > 0
and '0' otherwise. The authors' own files carry a third field (sometimes containing commas),
which the reader accepts and ignores: `SEQ,LABELS,anything...`. A first line `SEQ,LABELS`
(any case) is a header.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path

from counting.dyck import DyckError, labels
from counting.paths import open_regular


class DatasetFileError(ValueError):
    """A dataset file is missing or a line of it is malformed; names the file and line.
    (A file that is there but cannot be read raises counting.paths.PathError.)"""


def _create_temp(path: Path) -> Path:
    """Create an empty, unique temporary file beside `path` with the permissions a plain
    open(path, "w") would give it: an existing file's mode, else 0o666 minus the umask
    (the kernel applies the umask and default ACLs, as for any new file)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else None
    except OSError:
        mode = None
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:  # pragma: no cover - 2^32 names
            continue
        break
    try:
        if mode is not None:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return tmp


def _named(err: OSError, path: Path) -> OSError:
    """`err` naming `path` (the file being written) instead of its temporary file."""
    return type(err)(err.errno, err.strerror or str(err), str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success rename it over `path` atomically.

    On error the temporary file is removed and an existing `path` is left untouched. The
    file ends with the permissions a plain `open(path, "w")` would give it (the umask is
    honoured; an existing file keeps its mode). An OSError while writing names `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = _create_temp(path)
    except OSError as err:
        raise _named(err, path) from None
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and (err.filename is None
                                         or os.fspath(err.filename) == os.fspath(tmp)):
            raise _named(err, path) from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def write_sequences(path: str | os.PathLike, seqs: list[str]) -> None:
    """Write `SEQ,LABELS` lines atomically."""
    write_text_atomic(path, "".join(f"{s},{labels(s)}\n" for s in seqs))


def _is_header(parts: list[str]) -> bool:
    return [p.strip().lower() for p in parts[:2]] == ["seq", "labels"]


def read_sequences(path: str | os.PathLike, balanced: bool = True) -> list[str]:
    """Read a dataset file; every line's labels are checked against its sequence.

    An optional first line `SEQ,LABELS` (any case) is a header and skipped; blank lines are
    skipped. With `balanced` (every set of the paper is) each word must end at depth 0.
    Raises DatasetFileError naming the file, and the 1-based line number where there is
    one, for: a missing file (no entry at all), a file with no sequence, a line that is not
    ASCII text, a malformed line, labels that disagree with the sequence, a word that is
    not balanced;
    PathError `cannot read <path>: <reason>` (a ValueError too) for a file that is there but
    cannot be read: a directory, a dangling symbolic link, a FIFO or device (never opened
    and waited on), no read permission (`counting.paths.open_regular`).
    """
    path = Path(path)
    try:
        fh = open_regular(path)
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: no such dataset file") from None
    seqs = []
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                raw = raw[3:]
            if lineno == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise DatasetFileError(f"{path}: a UTF-16 text file; save it as ASCII (or "
                                       "UTF-8) text with lines 'SEQ,LABELS'")
            try:
                line = raw.decode("ascii").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DatasetFileError(
                    f"{path}:{lineno}: not a text line (byte {raw[err.start]:#04x} at column "
                    f"{err.start + 1}); expected 'SEQ,LABELS'") from None
            if any("\r" in field for field in line.split(",", 2)[:2]):  # the 3rd: anything
                raise DatasetFileError(
                    f"{path}:{lineno}: a carriage return (\\r) inside the line: lines must end "
                    "with \\n or \\r\\n (old Mac line endings?)")
            if not line.strip():
                continue
            parts = line.split(",", 2)
            if len(parts) < 2:
                raise DatasetFileError(f"{path}:{lineno}: expected 'SEQ,LABELS', got {line[:60]!r}")
            if lineno == 1 and _is_header(parts):
                continue
            seq, lab = parts[0].strip(), parts[1].strip()
            if not seq:
                raise DatasetFileError(f"{path}:{lineno}: empty sequence; expected 'SEQ,LABELS'")
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
            if balanced and expected and expected[-1] != "0":
                depth = seq.count("(") - seq.count(")")
                raise DatasetFileError(
                    f"{path}:{lineno}: not a Dyck-1 word: it ends at depth {depth}, not 0")
            seqs.append(seq)
    if not seqs:
        raise DatasetFileError(f"{path}: the set file holds no sequence (it is empty)")
    return seqs
