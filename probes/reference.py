"""The exact constructions as references: the true counter and the ideal gate values.

`constructions` is imported lazily (layering: probes never needs it at import time).
The true counter of a sequence is the counter of the exact construction of the model's
cell traced on it (ReLU: h_t, LSTM: c_t; the GRU has no exact construction, so its
reference is the exact ReLU counter). Every construction trace is checked against the
depth profile from `counting.dyck`; a mismatch is an error in the construction, not in
the model, and raises.
"""

from __future__ import annotations

import numpy as np

from constructions.builders import EXACT_CELLS
from probes.tracing import trace_batch

_CACHE: dict = {}
_CACHE_SIZE = 16
_CACHE_MAX_TOKENS = 200_000  # longer inputs are not kept (a word of 10^6 tokens: ~50 MB)


def exact_model(cell: str, dtype=None):
    """The exact construction of `cell` (None for 'gru'), in `dtype` (default float64)."""
    import torch

    import constructions

    if cell not in EXACT_CELLS:
        return None
    return constructions.exact_counter(cell, dtype=dtype or torch.float64)


def reference_trace(cell: str, seqs, dtype=None):
    """Batched Trace of the exact construction for `cell` on `seqs` (cached), or None for
    a GRU. `dtype` is a torch dtype (default float64)."""
    import torch

    if cell not in EXACT_CELLS:
        return None
    dtype = dtype or torch.float64
    key = (cell, str(dtype), tuple(seqs))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    tr = trace_batch(exact_model(cell, dtype), seqs, unit=0)
    m = tr.mask
    if not np.array_equal(tr.counter[m], tr["depth"][m].astype(np.float64)):
        bad = np.argwhere(m & (tr.counter != tr["depth"]))[0]
        raise RuntimeError(
            f"the exact {cell} construction does not count exactly: sequence {bad[0]}, token "
            f"{bad[1]}: counter {tr.counter[tuple(bad)]!r} but depth {tr['depth'][tuple(bad)]}"
        )
    if sum(map(len, seqs)) > _CACHE_MAX_TOKENS:
        return tr
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = tr
    return tr


def true_counter(cell: str, seqs) -> np.ndarray:
    """(B, T) int64 true counter (-1 at padding) from the exact construction's trace."""
    tr = reference_trace(cell if cell in EXACT_CELLS else "relu", seqs)
    return np.where(tr.mask, np.nan_to_num(tr.counter, nan=-1.0), -1).astype(np.int64)
