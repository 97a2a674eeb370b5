"""The first run of the worst-case analysis: compile its kernels once, saying so.

    warm_verify()   # before any progress bar of a command that verifies models

prints WORST_CASE_MESSAGE and runs `verify` on tiny untrained models of every cell (hidden
size 1 in both dtypes, the exact search; hidden size 2, the bound) unless warm-up
"worstcase" is stamped in numba's cache directory (`counting.jit.warmup.warm`; the
directory is keyed on every numba source, these included). Only the CLI commands call it;
library calls never print.
"""

from __future__ import annotations

from counting.jit.warmup import warm

KIND = "worstcase"
WORST_CASE_MESSAGE = (
    "compiling the worst-case kernels once (about 20 s; cached for later runs)"
)


def _work() -> None:
    from counting.models import CELLS, init_model
    from probes.worstcase import verify

    for dtype in ("float64", "float32"):
        for cell in CELLS:
            verify(init_model(cell, 1, 0, dtype), max_length=20)
    for cell in CELLS:
        verify(init_model(cell, 2, 0, "float64"), max_length=20)


def warm_verify(stream=None) -> bool:
    """Compile the worst-case kernels unless cached, printing WORST_CASE_MESSAGE first.
    -> True when it compiled."""
    return warm(KIND, WORST_CASE_MESSAGE, _work, stream)


__all__ = ["KIND", "WORST_CASE_MESSAGE", "warm_verify"]
