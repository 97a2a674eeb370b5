"""The numba decorators of every kernel in the project.

All kernels are compiled on first use and cached on disk (`cache=True`, in the directory
`counting.jit.cache` chooses), with IEEE arithmetic (fastmath off: no reassociation, no
fused multiply-add unless written as `intrinsics.fma`) and numpy's error model: x / 0 gives
inf or NaN as in torch instead of raising, which also leaves no zero-check branch in the
loops, so that LLVM can vectorize them (the evaluation kernel runs one model per SIMD lane).

Each decorator first points numba at the project's cache directory (`cache.configure`,
once per process): numba fixes a kernel's cache directory when the kernel is created.
"""

from __future__ import annotations

import numba

from counting.jit import cache


def kernel(fn):
    """A compiled kernel callable from Python."""
    cache.configure()
    return numba.njit(cache=True, error_model="numpy")(fn)


def borrowing(fn):
    """A kernel that allocates nothing and only borrows the arrays it is given (and views of
    them) for the duration of the call: compiled without numba's reference counting
    (`_nrt=False`), which would otherwise cost two atomic operations for every array view
    it makes or passes to an inlined helper (measured: 5-25% of the H > 1 gradient
    kernels). An allocation inside it fails to compile."""
    cache.configure()
    return numba.njit(cache=True, error_model="numpy", _nrt=False)(fn)


def inline(fn):
    """A small function inlined into the kernels that call it."""
    cache.configure()
    return numba.njit(cache=True, inline="always", error_model="numpy")(fn)


def parallel(fn):
    """A kernel whose `prange` loops run on numba's worker threads; it releases the GIL, so
    other Python threads (file writing) go on while it runs."""
    cache.configure()
    return numba.njit(cache=True, parallel=True, nogil=True, error_model="numpy")(fn)


def njit(*args, **kwargs):
    """`numba.njit` itself (same arguments, same compilation), after pointing numba at the
    project's cache directory: for modules that spell their own options."""
    cache.configure()
    return numba.njit(*args, **kwargs)
