"""Draw figures in a second process while the first goes on with the evaluation.

matplotlib's drawing is single-threaded Python: the four figures of a reproduction take
a few seconds that otherwise add to its wall time. A `FigureWorker` starts one worker
process - forked where the platform allows it, so that it starts with matplotlib and the
figure modules already imported; spawned (and importing them while the caller works)
elsewhere - and `submit(module, root)` returns a function that waits for
`module.make(root)`'s result. The forked worker only draws (no numba, no torch), so the
caller's idle thread pools are no hazard to it.
With `enabled=False`, or where no process can be started, `submit` draws in the calling
process instead. Errors raised in the worker are raised again by the waiting function.

    with FigureWorker() as figures:
        done = figures.submit(fig2, out)
        ...                              # other work
        paths = done()
"""

from __future__ import annotations

import importlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

FIGURE_MODULES = ("paper_figs.fig1", "paper_figs.fig2", "paper_figs.fig3", "paper_figs.fig4")


def _preload() -> None:
    for name in FIGURE_MODULES:
        importlib.import_module(name)


def _make(module_name: str, root: str) -> list[Path]:
    return importlib.import_module(module_name).make(root)


class FigureWorker:
    def __init__(self, enabled: bool = True):
        self.pool = None
        if enabled:
            fork = "fork" in multiprocessing.get_all_start_methods()
            try:
                ctx = multiprocessing.get_context("fork" if fork else "spawn")
                self.pool = ProcessPoolExecutor(1, mp_context=ctx)
                if not fork:
                    self.pool.submit(_preload)  # start it and import matplotlib now
            except (OSError, RuntimeError, NotImplementedError):
                self.pool = None

    def submit(self, module, root):
        """Draw `module.make(root)`; returns a function that waits for its paths."""
        if self.pool is not None:
            future = self.pool.submit(_make, module.__name__, str(root))
            return future.result
        paths = module.make(root)
        return lambda: paths

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=exc_type is not None)
        return False
