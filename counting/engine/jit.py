"""The engine's numba decorators: a re-export of `counting.jit.decorators` (their home)."""

from counting.jit.decorators import borrowing, inline, kernel, parallel

__all__ = ["borrowing", "inline", "kernel", "parallel"]
