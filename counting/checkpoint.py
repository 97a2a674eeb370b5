"""Checkpoint format `counting-rnns/1` (documented in the README; other tools read it).

    torch.save({"format": "counting-rnns/1", "cell": "lstm"|"relu"|"gru", "hidden_size": int,
                "dtype": "float32"|"float64", "state_dict": model.state_dict(), "meta": {...}},
               path)

Always loaded with `torch.load(..., weights_only=True)`. Writes are atomic and honour the
umask (`counting.fileformat.atomic_path`).
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import torch

from counting.fileformat import write_bytes_atomic
from counting.models import CELLS, CounterRNN, dtype_name, resolve_dtype

FORMAT = "counting-rnns/1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, or not a counting-rnns checkpoint."""


def save_checkpoint(model: CounterRNN, path: str | os.PathLike, meta: dict | None = None) -> None:
    payload = {
        "format": FORMAT,
        "cell": model.cell,
        "hidden_size": model.hidden_size,
        "dtype": dtype_name(model.dtype),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    buf = io.BytesIO()  # serialise first: a failed write is then a plain OSError naming path
    torch.save(payload, buf)
    write_bytes_atomic(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> tuple[CounterRNN, dict]:
    """-> (model in eval mode, meta). Raises CheckpointError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        if isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e):
            raise CheckpointError(  # torch.save(model): a pickle, not loaded (it runs code)
                f"{path}: a pickled Python object (torch.save(model)?), not a {FORMAT} "
                "checkpoint; it is not loaded, as unpickling can run code - save the model "
                "with counting.checkpoint.save_checkpoint") from None
        raise CheckpointError(
            f"{path}: not a readable checkpoint - the file is truncated, corrupt or not written "
            f"by torch.save ({type(e).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint (format: {found!r})")
    try:
        cell, hidden = payload["cell"], payload["hidden_size"]
        dtype = resolve_dtype(payload["dtype"])
        state = payload["state_dict"]
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint is missing or has a bad field: {e}") from None
    if cell not in CELLS:
        raise CheckpointError(f"{path}: unknown cell {cell!r} (expected one of {CELLS})")
    model = CounterRNN(cell, int(hidden), dtype)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: weights do not fit a {cell} of hidden size {hidden}: {e}"
        ) from None
    bad = [k for k, v in model.state_dict().items() if not torch.isfinite(v).all()]
    if bad:  # training never saves these (a diverged run stops first)
        raise CheckpointError(f"{path}: weights are not finite (NaN or inf in {', '.join(bad)})")
    model.eval()
    return model, dict(payload.get("meta") or {})
