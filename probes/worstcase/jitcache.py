"""Keep numba's on-disk cache of the worstcase kernels consistent with their sources.

numba keys a cached kernel on its own file only, so after an edit of `numerics.py` the
cached `rows.py` kernel would still run the old code it called. As for the engine
(`counting.engine.cachecheck`), `refresh()` hashes this package's sources and drops its
cache files when the hash changed; it runs when `numerics` (the first kernel module) is
imported. Errors (a read-only install) are ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAMP = HERE / "__pycache__" / "worstcase-sources.sha256"


def refresh() -> None:
    try:
        h = hashlib.sha256()
        for path in sorted(HERE.glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        digest = h.hexdigest()
        if STAMP.is_file() and STAMP.read_text().strip() == digest:
            return
        for path in HERE.glob("__pycache__/*.nb[ic]"):
            path.unlink(missing_ok=True)
        STAMP.parent.mkdir(exist_ok=True)
        STAMP.write_text(digest + "\n")
    except OSError:
        pass
