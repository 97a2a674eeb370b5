"""One on-disk numba cache per node for the engine's kernels, compiled once, shared by processes.

Every process that imports `counting.engine` compiles its kernels (~25 s) unless it finds
them in numba's on-disk cache. Processes started by a cluster engine (Ray workers) would
each compile, and processes of several nodes writing one cache on a shared file system
race on it. So processes that train for a distributed sweep use ONE node-local cache:

    cache_dir()   BASE/engine-<hash of the engine's place and sources>-numba<ver>-py<ver>
                  BASE = $NUMBA_CACHE_DIR if set, else <temp dir>/counting-numba-<user>

A new engine, numba or Python gets a new directory, so a cached kernel is never stale
(`counting.engine.cachecheck` does that job for the default cache in the package). numba
files a kernel under its source file's path and checks the file's modification time and
size, so the directory also depends on where the engine lies (two clones: two caches), and
the `complete` marker holds the sources' times and sizes (a checkout that rewrote them
makes the node cache incomplete again, and the driver warms it again).

`prepare_process()` (in every worker process, once, before its first training) points numba
at that directory, then - holding an exclusive lock on `<dir>.lock` - imports the engine
and trains one tiny run so that every kernel the sweep calls is loaded, or compiled and
written. The lock lets one process of a node compile and write while the others wait, then
load. After a successful warm-up it writes `<dir>/complete`.

`warm_node_cache()` (in the driver, before tasks go out) does that warm-up in a child
process unless `complete` exists, so that the driver's node compiles once and its workers
only load (the driver itself may hold kernels bound to another cache directory: numba fixes
a kernel's cache directory when its module is imported).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ENGINE = Path(__file__).resolve().parent / "engine"
MARKER = "complete"
_PREPARED = {"dir": None}


def cache_dir() -> Path:
    """The node-local cache directory for this engine, numba and Python (not created)."""
    import numba

    base = os.environ.get("NUMBA_CACHE_DIR") or Path(tempfile.gettempdir()) / (
        f"counting-numba-{_user()}")
    py = "".join(platform.python_version_tuple()[:2])
    return Path(base) / f"engine-{engine_sources_hash()[:16]}-numba{numba.__version__}-py{py}"


def engine_sources_hash() -> str:
    """sha256 over the engine's place and source files (names and bytes), read without
    importing it."""
    h = hashlib.sha256(str(ENGINE).encode())
    for path in sorted(ENGINE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _stamps() -> str:
    """The engine sources' modification times and sizes, as numba's cache index checks them."""
    lines = []
    for path in sorted(ENGINE.glob("*.py")):
        st = path.stat()
        lines.append(f"{path.name} {st.st_mtime} {st.st_size}")
    return "\n".join(lines) + "\n"


def _complete(directory: Path) -> bool:
    try:
        return (directory / MARKER).read_text() == _stamps()
    except OSError:
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def engine_imported() -> bool:
    """Whether this process has created the engine's kernels (their cache dir is then fixed)."""
    return "counting.engine.jit" in sys.modules


@contextlib.contextmanager
def _locked(directory: Path):
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{directory}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _warm_kernels() -> None:
    """Train one LSTM run one epoch on two words: calls every kernel `train_runs` calls."""
    from counting.engine.runs import RunSpec, train_runs
    from counting.training import TrainConfig

    with tempfile.TemporaryDirectory(prefix="counting-warm-") as tmp:
        spec = RunSpec(TrainConfig(cell="lstm", epochs=1), Path(tmp), {}, "warm")
        train_runs([spec], {"train": ["()", "(())"], "validation": ["()"],
                            "long": ["()()"]}, progress=False)


def prepare_process() -> Path:
    """Use the node cache in this process and load (or compile, one process at a time) the
    kernels; -> the cache directory. Idempotent. Raises RuntimeError if the engine was
    already imported here with another cache directory."""
    if _PREPARED["dir"] is not None:
        return _PREPARED["dir"]
    import numba

    directory = cache_dir()
    if engine_imported() and Path(numba.config.CACHE_DIR or "") != directory:
        raise RuntimeError("counting.engine was imported before prepare_process(); its kernels "
                           "do not use the node cache")
    directory.mkdir(parents=True, exist_ok=True)
    numba.config.CACHE_DIR = str(directory)
    import counting.training  # noqa: F401  (torch etc.: imported before the lock, in parallel)

    with _locked(directory):
        _warm_kernels()
        (directory / MARKER).write_text(_stamps())
    _PREPARED["dir"] = directory
    return directory


def kernel_counts() -> dict[str, int]:
    """How many engine kernel signatures this process compiled and how many it loaded from
    the on-disk cache (numba's dispatcher statistics, summed over the engine's modules)."""
    from numba.core.dispatcher import Dispatcher

    compiled = loaded = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("counting.engine.") or module is None:
            continue
        for obj in vars(module).values():
            if isinstance(obj, Dispatcher) and obj.__module__ == name:
                stats = obj.stats
                compiled += sum(stats.cache_misses.values())
                loaded += sum(stats.cache_hits.values())
    return {"compiled": compiled, "loaded": loaded}


def warm_node_cache() -> Path:
    """Make sure the node cache holds every kernel; -> its directory. Without the `complete`
    marker (or with one of other source times and sizes), a child process runs
    `prepare_process` (this process may hold kernels already bound to another cache
    directory) and this one waits for it."""
    directory = cache_dir()
    if not _complete(directory):
        subprocess.run([sys.executable, "-m", "counting.kernel_cache"], check=True,
                       cwd=Path(__file__).resolve().parent.parent)
    return directory


if __name__ == "__main__":
    prepare_process()
