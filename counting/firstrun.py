"""The first-run warm-ups: a re-export of `counting.jit.warmup` (their home)."""

from counting.jit.warmup import (
    CELLS_MESSAGE,
    ENGINE_MESSAGE,
    is_warm,
    warm,
    warm_cells,
    warm_engine,
)

__all__ = ["CELLS_MESSAGE", "ENGINE_MESSAGE", "is_warm", "warm", "warm_cells", "warm_engine"]
