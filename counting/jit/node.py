"""One kernel cache per node for distributed sweeps: compiled once, then only loaded.

Every process compiles the kernels it calls unless it finds them in numba's on-disk cache.
Processes started by a cluster engine (Ray workers) would each compile, and processes
writing one cache at once race on it. The cache directory is already node-local and
keyed on the sources (`counting.jit.cache.cache_dir()`: $NUMBA_CACHE_DIR, else the temp
dir); this module makes the processes of a node compile into it one at a time:

`prepare_process()` (in every worker process, once, before its first training) points numba
at that directory, then - holding an exclusive lock on `<dir>.lock` - trains one tiny run
so that every kernel the sweep calls is loaded, or compiled and written. The lock lets one
process of a node compile and write while the others wait, then load. After a successful
warm-up it writes `<dir>/complete`, holding the sources' modification times and sizes (as
numba's cache index checks them: a checkout that rewrote them makes the cache incomplete).

`warm_node_cache()` (in the driver, before tasks go out) does that warm-up in a child
process unless `complete` is up to date, so that the driver's node compiles once and its
workers only load.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import sys
import tempfile
from pathlib import Path

from counting.jit import cache

MARKER = "complete"
_PREPARED = {"dir": None}


def cache_dir() -> Path:
    """The node-local cache directory for these sources, numba and Python (not created)."""
    return cache.cache_dir()


def _complete(directory: Path) -> bool:
    try:
        return (directory / MARKER).read_text() == cache.source_stamps()
    except OSError:
        return False


def engine_imported() -> bool:
    """Whether this process has created kernels (their cache directory is then fixed)."""
    return cache.configured() is not None


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
    """Train one LSTM run one epoch on two words: calls every kernel `train_runs` calls
    at hidden size 1 (the many-model kernel holds every cell)."""
    from counting.engine.runs import RunSpec, train_runs
    from counting.training import TrainConfig

    with tempfile.TemporaryDirectory(prefix="counting-warm-") as tmp:
        spec = RunSpec(TrainConfig(cell="lstm", epochs=1), Path(tmp), {}, "warm")
        train_runs([spec], {"train": ["()", "(())"], "validation": ["()"],
                            "long": ["()()"]}, progress=False)


def prepare_process() -> Path:
    """Use the node cache in this process and load (or compile, one process at a time) the
    kernels; -> the cache directory. Idempotent. Raises RuntimeError if kernels were
    already created here with another cache directory."""
    if _PREPARED["dir"] is not None:
        return _PREPARED["dir"]
    directory = cache_dir()
    chosen = cache.configured()
    if chosen is not None and chosen != directory:
        raise RuntimeError("counting.engine was imported before prepare_process(); its kernels "
                           f"use {chosen}, not the node cache {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    cache.configure(directory)
    import counting.training  # noqa: F401  (torch etc.: imported before the lock, in parallel)

    with _locked(directory):
        _warm_kernels()
        (directory / MARKER).write_text(cache.source_stamps())
    _PREPARED["dir"] = directory
    return directory


def kernel_counts() -> dict[str, int]:
    """How many engine kernel signatures this process compiled and how many it loaded from
    the on-disk cache (numba's dispatcher statistics, summed over the engine's modules,
    kernels made per cell or hidden size included)."""
    compiled = loaded = 0
    for dispatcher in dispatchers("counting.engine."):
        stats = dispatcher.stats
        compiled += sum(stats.cache_misses.values())
        loaded += sum(stats.cache_hits.values())
    return {"compiled": compiled, "loaded": loaded}


def dispatchers(prefix: str = "counting.") -> list:
    """Every numba dispatcher of the loaded modules whose name starts with `prefix`: the
    module-level ones and those the modules made per cell or size (in dicts of theirs, of
    single kernels or tuples)."""
    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefix) or module is None:
            continue
        for obj in list(vars(module).values()):
            values = list(obj.values()) if isinstance(obj, dict) else [obj]
            values = [v for value in values
                      for v in (value if isinstance(value, tuple) else (value,))]
            for value in values:
                if isinstance(value, Dispatcher) and value.py_func.__module__ == name:
                    found[id(value)] = value
    return list(found.values())


def warm_node_cache() -> Path:
    """Make sure the node cache holds every kernel; -> its directory. Without the `complete`
    marker (or with one of other source times and sizes), a child process runs
    `prepare_process` and this one waits for it."""
    directory = cache_dir()
    if not _complete(directory):
        subprocess.run([sys.executable, "-m", "counting.jit.node"], check=True,
                       cwd=cache.ROOT)
    return directory


if __name__ == "__main__":
    prepare_process()
