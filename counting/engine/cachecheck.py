"""Kept for old imports. The engine's cache is now consistent by construction: every
kernel is cached in a directory named after a key of every numba source
(`counting.jit.cache`), so nothing is dropped and nothing runs at import."""

from __future__ import annotations

from counting.jit.cache import key as sources_hash


def refresh() -> None:
    """Nothing to do (see the module docstring)."""


__all__ = ["refresh", "sources_hash"]
