"""Access to numba's CUDA target: real GPU or numba's CUDA simulator.

- numba-cuda 0.30 with numpy >= 2.5 looks up `numpy.row_stack` (removed from numpy) at its
  first compile; `cuda_module()` aliases it to `numpy.vstack` first, only where it is missing.
- The simulator (NUMBA_ENABLE_CUDASIM=1) runs kernels as Python, one thread per CUDA thread,
  which is slow but exact enough to test the kernels on tiny sizes. `use_simulator()` turns it
  on if `numba.cuda` has not been imported yet.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def _patch_numpy() -> None:
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack


def use_simulator() -> bool:
    """Select numba's CUDA simulator for this process; False if it is too late to switch."""
    if "numba.cuda" in sys.modules:
        return simulator_active()
    import numba

    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    numba.config.ENABLE_CUDASIM = 1
    return True


def cuda_module():
    """`numba.cuda`, after the numpy compatibility patch."""
    _patch_numpy()
    from numba import cuda

    return cuda


def simulator_active() -> bool:
    """True if `numba.cuda` is (or will be) the simulator."""
    import numba

    return bool(numba.config.ENABLE_CUDASIM)


def availability() -> tuple[bool, str]:
    """(usable, reason): whether kernels can run here, and why not."""
    try:
        cuda = cuda_module()
    except Exception as err:  # pragma: no cover - depends on the installation
        return False, f"numba.cuda cannot be imported: {err}"
    if simulator_active():
        return True, "numba CUDA simulator"
    try:
        if cuda.is_available():
            return True, f"CUDA device {cuda.get_current_device().name!r}"
    except Exception as err:  # pragma: no cover
        return False, f"CUDA driver error: {err}"
    return False, ("no CUDA GPU visible to numba (set NUMBA_ENABLE_CUDASIM=1 to use the "
                   "simulator, or install numba-cuda on a machine with a GPU)")


def require_cuda():
    """`numba.cuda`, or a RuntimeError saying why the GPU path cannot run."""
    ok, why = availability()
    if not ok:
        raise RuntimeError(f"the GPU path is unavailable: {why}")
    return cuda_module()


def device_name() -> str:
    """The current device's name, e.g. 'NVIDIA H100 80GB HBM3'."""
    if simulator_active():
        return "numba CUDA simulator"
    name = cuda_module().get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def multiprocessor_count() -> int:
    """Number of SMs of the current device (1 on the simulator)."""
    if simulator_active():
        return 1
    return int(cuda_module().get_current_device().MULTIPROCESSOR_COUNT)


def choose_block(n_threads: int, block: int | None = None) -> int:
    """Threads per block: `block` if given, else the largest of 128/64/32 that still gives every
    SM about four blocks (small blocks win when models are few)."""
    if block is not None:
        if block < 1 or block > 1024:
            raise ValueError(f"block size must be in 1..1024, got {block}")
        return int(block)
    sms = multiprocessor_count()
    for b in (128, 64):
        if -(-n_threads // b) >= 4 * sms:
            return b
    return 32
