"""The node cache of distributed sweeps: a re-export of `counting.jit.node` (its home)."""

from counting.jit.node import (
    MARKER,
    _complete,
    cache_dir,
    engine_imported,
    kernel_counts,
    prepare_process,
    warm_node_cache,
)

__all__ = ["MARKER", "_complete", "cache_dir", "engine_imported", "kernel_counts",
           "prepare_process", "warm_node_cache"]

if __name__ == "__main__":
    prepare_process()
