"""LLVM intrinsics for the kernels: a re-export of `counting.jit.intrinsics` (their home)."""

from counting.jit.intrinsics import as_float, atomic_add, fma

__all__ = ["as_float", "atomic_add", "fma"]
