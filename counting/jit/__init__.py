"""The numba machinery of the whole project, in one place (the bottom layer).

    decorators  kernel, borrowing, inline, parallel, njit: how every kernel is compiled
                (cache=True, fastmath off, numpy's error model)
    intrinsics  fma, atomic_add, as_float (LLVM instructions numba does not emit)
    cache       the one cache directory: $NUMBA_CACHE_DIR (else the temp dir) / a key over
                every numba source of the project; `configure()` points numba at it
    warmup      compile what a command uses before its progress bar, saying so once
                (stamps in the cache directory); warm_engine, warm_cells, warm
    node        the node cache of distributed sweeps (prepare_process, warm_node_cache)

Importing this package compiles, loads and deletes nothing; the decorators only choose
numba's cache directory (once) before creating a kernel.
"""

from counting.jit.decorators import borrowing, inline, kernel, njit, parallel
from counting.jit.intrinsics import as_float, atomic_add, fma

__all__ = ["as_float", "atomic_add", "borrowing", "fma", "inline", "kernel", "njit", "parallel"]
