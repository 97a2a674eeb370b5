"""Where numba caches the project's kernels, and one key over every numba source.

numba keys a cached kernel on its own file only (its modification time and size): after an
edit of, say, `mathfn.py` or `intrinsics.py`, the cached `train.py` kernels would still run
the old inlined code. So every kernel of the project is cached in ONE directory named after
a hash of every numba source:

    cache_dir()   BASE/counting-<key>-numba<ver>-py<ver>
                  BASE = $NUMBA_CACHE_DIR if set, else <temp dir>/counting-numba-<user>
                  (node-local: processes of several nodes never share a cache file;
                  an unwritable $NUMBA_CACHE_DIR falls back to the temp dir's)
    key()         sha256 over numba's and Python's versions, the project's place (numba
                  files kernels by source path: two clones, two directories) and, for
                  every file of `sources()`, its path in the project and its bytes

An edited source gives a new directory, so a stale kernel is never loaded (and nothing is
deleted). `sources()` are every file of the kernel packages (counting/engine, counting/jit,
probes/worstcase: a kernel also freezes the constants it imports from its package) and
every other file of the project's packages that defines a numba function (found by its
decorator), read from disk without importing anything.

`configure()` points numba at that directory (`numba.config.CACHE_DIR`); numba fixes a
kernel's cache directory when the kernel is created, so the decorators of `counting.jit`
call it before creating one. It runs once per process (later calls keep the first
directory); nothing is compiled, loaded or deleted by it. The warm-up stamps
(`counting.jit.warmup`) lie in the same directory, so they always describe the cache
numba really uses.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

import numba

ROOT = Path(__file__).resolve().parents[2]  # the directory holding the project's packages
PACKAGES = ("counting", "probes", "paper_figs", "constructions")
KERNEL_PACKAGES = ("counting/engine", "counting/jit", "probes/worstcase", "counting/cells")
_NUMBA_FUNCTION = re.compile(
    rb"^\s*@(?!cuda\.)(\w+\.)*(kernel|inline|borrowing|parallel|jit|njit|intrinsic|overload\w*)\b"
    rb"|\bnjit\(", re.M)  # CPU kernels (numba.cuda's are not cached on disk)
_STATE: dict = {"dir": None}


def sources(root: Path | None = None) -> list[Path]:
    """Every numba source of the project under `root` (default ROOT), sorted."""
    root = ROOT if root is None else Path(root)
    found = set()
    for package in KERNEL_PACKAGES:
        found.update((root / package).glob("*.py"))
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if path not in found and "__pycache__" not in path.parts:
                try:
                    if _NUMBA_FUNCTION.search(path.read_bytes()):
                        found.add(path)
                except OSError:
                    pass
    return sorted(found)


def key(root: Path | None = None) -> str:
    """sha256 over numba's and Python's versions, the project's place and every numba
    source (path and bytes)."""
    root = ROOT if root is None else Path(root)
    # the place too: numba files a kernel under its source's path, so two clones with the
    # same sources must not share the warm-up stamps
    h = hashlib.sha256(f"numba {numba.__version__} python {sys.version} {root}".encode())
    for path in sources(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def source_stamps(root: Path | None = None) -> str:
    """The sources' modification times and sizes, as numba's cache index checks them (a
    checkout that rewrote a file with the same bytes makes numba recompile it)."""
    root = ROOT if root is None else Path(root)
    lines = []
    for path in sources(root):
        st = path.stat()
        lines.append(f"{path.relative_to(root).as_posix()} {st.st_mtime_ns} {st.st_size}")
    return "\n".join(lines) + "\n"


def base_dir() -> Path:
    """$NUMBA_CACHE_DIR if set, else <temp dir>/counting-numba-<user>."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"counting-numba-{_user()}"


def cache_dir() -> Path:
    """The directory for the current sources, numba and Python under `base_dir()` (not
    created; computed afresh: see `configured()` for the one this process uses)."""
    py = "".join(platform.python_version_tuple()[:2])
    return base_dir() / f"counting-{key()[:16]}-numba{numba.__version__}-py{py}"


def configured() -> Path | None:
    """The cache directory this process's kernels use (None before `configure()`)."""
    return _STATE["dir"]


def configure(directory: Path | str | None = None) -> Path:
    """Point numba at `directory` (default `cache_dir()`) for every kernel created from now
    on; -> the directory. The first call chooses; later calls re-assert it (numba resets its
    config when a NUMBA_ environment variable changes). Raises RuntimeError when a
    different directory is asked for after the first choice."""
    chosen = _STATE["dir"]
    if chosen is None:
        chosen = Path(directory) if directory is not None else cache_dir()
        if not _writable(chosen) and directory is None:
            # $NUMBA_CACHE_DIR unwritable: the temp dir's (numba itself would fall back to
            # the package's __pycache__, where stale kernels are not detected)
            fallback = Path(tempfile.gettempdir()) / f"counting-numba-{_user()}" / chosen.name
            if _writable(fallback):
                chosen = fallback
        _STATE["dir"] = chosen
    elif directory is not None and Path(directory) != chosen:
        raise RuntimeError(f"numba's cache directory is already {chosen} in this process "
                           f"(kernels were created); cannot switch to {directory}")
    numba.config.CACHE_DIR = str(chosen)
    return chosen


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.access(directory, os.W_OK | os.X_OK)
    except OSError:
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
