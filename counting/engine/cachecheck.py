"""Keep numba's on-disk cache of the engine consistent with its sources.

numba keys a cached kernel on its own file only: after an edit of, say, `lstm.py`, the
cached `train.py` kernels would still run the old inlined LSTM code. `refresh()` hashes
every source file of the engine and, when the hash differs from the one stored beside
the cache (`__pycache__/engine-sources.sha256`), deletes the engine's cache files so that
everything recompiles once. It runs when `counting.engine` is imported, before any kernel
module; errors (a read-only install) are ignored - numba then uses its own cache dir.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAMP = HERE / "__pycache__" / "engine-sources.sha256"


def sources_hash() -> str:
    h = hashlib.sha256()
    for path in sorted(HERE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def refresh() -> None:
    try:
        digest = sources_hash()
        if STAMP.is_file() and STAMP.read_text().strip() == digest:
            return
        for path in HERE.glob("__pycache__/*.nb[ic]"):
            path.unlink(missing_ok=True)
        STAMP.parent.mkdir(exist_ok=True)
        STAMP.write_text(digest + "\n")
    except OSError:
        pass
