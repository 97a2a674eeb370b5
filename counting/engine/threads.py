"""numba threading for the engine's parallel kernels.

Known pitfall: with numba's OpenMP layer, its worker threads keep spinning after a parallel
region, and torch's own CPU RNN kernels in the same process can then run ~200x slower. The
engine therefore selects numba's `workqueue` layer (threads sleep between regions), unless
NUMBA_THREADING_LAYER is set in the environment. The layer is fixed when the first parallel
kernel of the process runs, so `configure()` runs when `counting.engine` is imported.
`tests/test_engine_threads.py` checks that torch's nn.LSTM keeps its speed after the
parallel kernels ran.
"""

from __future__ import annotations

import os

import numba


def configure() -> None:
    if not os.environ.get("NUMBA_THREADING_LAYER"):
        numba.config.THREADING_LAYER = "workqueue"


def set_jobs(jobs: int | None) -> int:
    """Use `jobs` threads for the parallel kernels (None: all numba may use); -> threads."""
    limit = numba.config.NUMBA_NUM_THREADS
    if jobs is None:
        jobs = limit
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    n = min(jobs, limit)
    numba.set_num_threads(n)
    return n
