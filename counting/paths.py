"""The paths a command reads and writes: checked before any work starts, and the one-line
message for an OSError on any of them.

Every check raises PathError with the message the CLI prints after `counting <cmd>: error:`

    cannot write reproduction: it is an existing file, not a directory
    cannot write out.json: it is a directory
    cannot write /ro/run: Read-only file system
    cannot read model.pt: file not found

A command declares the role of each of its path arguments once, in its `register`:

    declare_paths(p, output_dirs=("out",), output_files=("json_out",),
                  input_files=("checkpoint",), input_dirs=("data",))

`counting.cli.main` then runs `check_paths(args)` before the command, and turns an OSError
raised later (a full disk, say) into `cannot write <path>: <reason>` when the path lies
under one of the command's outputs, `cannot read <path>: <reason>` otherwise
(`describe_os_error`). The checks write nothing that stays: a writable place is probed by
creating and removing an empty file, and missing directories are not created.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

ROLES = ("output_dirs", "output_files", "input_dirs", "input_files")
_DEFAULT = "_path_roles"


class PathError(ValueError):
    """A path cannot be read or written; the message is `cannot read|write <path>: <why>`."""


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str:
    """Why a file of `mode` (not a regular file) cannot be read as one."""
    if stat.S_ISDIR(mode):
        return "is a directory"
    kind = next((name for test, name in _KINDS if test(mode)), None)
    return f"not a regular file ({kind})" if kind else "not a regular file"


def _open_reason(err: OSError) -> str:
    """The short reason for an OSError from stat or open of a file to read."""
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if err.errno == errno.ELOOP:
        return "symbolic link loop"
    return _reason(err)  # "Permission denied", as for every other path of the CLI


def _nonblocking(path, flags):
    """The opener of `open_regular`: never waits on a FIFO or device that slipped past the
    stat check (O_NONBLOCK), and never makes a terminal the controlling one (O_NOCTTY)."""
    return os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))


def open_regular(path):
    """Open `path` (a file a command reads, symbolic links followed) in binary mode.

    Raises FileNotFoundError when there is no entry at all (not even a dangling symbolic
    link: os.lstat), so a caller can treat an optional file as absent; PathError
    `cannot read <path>: <reason>` when it is there but unusable: "is a directory",
    "dangling symbolic link", "not a regular file (a FIFO)" / "(a character device)" /
    "(a block device)" / "(a socket)", "symbolic link loop", "Permission denied" (the
    system's words, as for every other path), or the system's reason.
    The type is checked with os.stat before opening, the file is opened with O_NONBLOCK
    and checked again with fstat: a FIFO or device is never waited on or read.
    """
    path = Path(path)

    def refuse(why: str) -> PathError:
        return PathError(f"cannot read {path}: {why}")

    try:
        os.lstat(path)
    except FileNotFoundError:
        raise
    except OSError as err:  # a directory on the way without search permission, ...
        raise refuse(_open_reason(err)) from None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise refuse("dangling symbolic link") from None
    except OSError as err:
        raise refuse(_open_reason(err)) from None
    if not stat.S_ISREG(st.st_mode):
        raise refuse(_not_regular(st.st_mode))
    try:
        fh = open(path, "rb", opener=_nonblocking)
    except FileNotFoundError:
        raise refuse("removed while being opened") from None
    except OSError as err:
        raise refuse(_open_reason(err)) from None
    try:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):  # replaced between the stat and the open
            raise refuse(_not_regular(mode))
        os.set_blocking(fh.fileno(), True)
    except BaseException:
        fh.close()
        raise
    return fh


def _nearest_existing(path: Path) -> Path:
    """`path` itself or its closest ancestor that exists (the current directory at worst)."""
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return p
    return Path(".")


def _probe_dir(directory: Path, target: Path) -> None:
    """Create and remove an empty file in `directory`: PathError naming `target` if that
    fails (no permission, a read-only or immutable place, no space for an inode)."""
    probe = directory / f".counting-probe-{secrets.token_hex(6)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as err:
        raise PathError(f"cannot write {target}: {_reason(err)}") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError as err:  # pragma: no cover - created but cannot remove: say so
        raise PathError(f"cannot write {target}: {_reason(err)} (left {probe})") from None


def _check_writable_place(directory: Path, target: Path) -> None:
    """`directory` (created later if missing) can receive `target`: its nearest existing
    ancestor is a directory in which a file can be created."""
    anchor = _nearest_existing(directory)
    if not anchor.is_dir():
        if anchor == target:
            raise PathError(f"cannot write {target}: it is an existing file, not a directory")
        raise PathError(f"cannot write {target}: {anchor} is a file, not a directory")
    _probe_dir(anchor, target)


def check_output_dir(path) -> Path:
    """A directory the command will write into (created later if missing)."""
    path = Path(path)
    _check_writable_place(path, path)
    return path


def check_output_file(path) -> Path:
    """A file the command will (re)write atomically. An existing file must be writable
    (as a plain open(path, 'w') would need): a read-only or immutable one is left alone."""
    path = Path(path)
    if path.is_dir():
        raise PathError(f"cannot write {path}: it is a directory")
    if os.path.lexists(path) and not path.is_file():
        raise PathError(f"cannot write {path}: it exists and is not a regular file")
    _check_writable_place(path.parent, path)
    if path.is_file() and not os.access(path, os.W_OK):
        raise PathError(f"cannot write {path}: the existing file is read-only")
    return path


def check_input_file(path) -> Path:
    """A file the command reads: a readable regular file (`open_regular`; a FIFO or device
    is refused without being opened)."""
    path = Path(path)
    if path.is_dir():
        raise PathError(f"cannot read {path}: it is a directory, not a file")
    try:
        with open_regular(path):
            pass
    except FileNotFoundError:
        raise PathError(f"cannot read {path}: file not found") from None
    return path


def check_input_dir(path) -> Path:
    """A directory the command reads (a data directory)."""
    path = Path(path)
    if not path.exists():
        if os.path.islink(path):
            raise PathError(f"cannot read {path}: dangling symbolic link")
        raise PathError(f"cannot read {path}: no such data directory (make one with "
                        "`counting data`)")
    if not path.is_dir():
        if not path.is_file():  # a FIFO, a device: said so, not opened
            why = _not_regular(os.stat(path).st_mode).replace("regular file", "directory")
            raise PathError(f"cannot read {path}: {why}")
        raise PathError(f"cannot read {path}: it is a file, not a directory")
    try:
        os.listdir(path)
    except OSError as err:
        raise PathError(f"cannot read {path}: {_reason(err)}") from None
    return path


CHECKS = {"output_dirs": check_output_dir, "output_files": check_output_file,
          "input_dirs": check_input_dir, "input_files": check_input_file}


def declare_paths(parser, **roles) -> None:
    """Record the roles of `parser`'s path arguments (by dest): output_dirs, output_files,
    input_dirs, input_files - each a tuple of dests. Calls add up."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise TypeError(f"unknown path role(s) {unknown}; expected among {ROLES}")
    old = parser.get_default(_DEFAULT) or {}
    merged = {r: tuple(old.get(r, ())) + tuple(roles.get(r, ())) for r in ROLES}
    parser.set_defaults(**{_DEFAULT: merged})


def _values(args, role: str) -> list[Path]:
    roles = getattr(args, _DEFAULT, None) or {}
    out = []
    for dest in roles.get(role, ()):
        value = getattr(args, dest, None)
        if value is not None:
            out.extend(Path(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return out


def check_paths(args) -> None:
    """Run every declared check on the parsed `args`; the first failure raises PathError.
    An output file that is also one of the inputs is refused (it would be overwritten)."""
    for role in ("input_files", "input_dirs", "output_files", "output_dirs"):
        for path in _values(args, role):
            CHECKS[role](path)
    inputs = {os.path.realpath(p) for p in _values(args, "input_files")}
    for path in _values(args, "output_files"):
        if os.path.realpath(path) in inputs:
            raise PathError(f"cannot write {path}: it is also an input of this command")


def _under(path: Path, root: Path) -> bool:
    try:
        path = Path(os.path.abspath(path))
        root = Path(os.path.abspath(root))
    except (OSError, ValueError):  # pragma: no cover
        return False
    return path == root or root in path.parents or (
        path.parent == root.parent and path.name.startswith(f".{root.name}."))


def describe_os_error(err: OSError, args=None) -> str:
    """One line for an OSError: `cannot write|read <path>: <reason>`; the verb is write when
    the path lies under one of `args`' declared outputs (or is a temporary file beside one)."""
    name = err.filename
    if name is None:
        return _reason(err) if err.strerror else str(err)
    name = os.fsdecode(name) if isinstance(name, bytes) else str(name)
    outputs = _values(args, "output_dirs") + _values(args, "output_files") if args else []
    verb = "write" if any(_under(Path(name), o) for o in outputs) else "read"
    return f"cannot {verb} {name}: {_reason(err)}"
