"""Kept for old imports: the worst-case kernels are cached with every other kernel of the
project in a directory keyed on all numba sources (`counting.jit.cache`), so a changed
source never meets a stale kernel and there is nothing to refresh."""


def refresh() -> None:
    """Nothing to do (see the module docstring)."""
