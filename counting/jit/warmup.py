"""The first run: numba compiles the kernels a command uses once and caches them on disk.

Without a word, the compilation looks like a hang, and a progress bar started before it
shows an ETA of hours. So the commands call, before any bar starts,

    warm_engine("train", loss, cells=(cell,), hidden_size=H)   # one run (FastBackend)
    warm_engine("sweep", loss, cells=..., hidden_size=H)   # many runs at once, evaluate_many
    warm_cells()                     # the cell replicas of counting.unrolled (eval, diagnose)

(and probes.worstcase.warmup.warm_verify for the worst-case kernels), which, when those
kernels are not in numba's cache yet, print one line first, e.g.

    compiling the engine's kernels once (about 10 s; cached for later runs)

and then compile them by running the same code on a tiny problem, for exactly the cells
and hidden sizes the command will use (each kernel is compiled per cell and per hidden size
1 or > 1: `counting.engine.train`, `evaluate`, `many`). Whether they are cached is told by a
stamp `warm-<kind>.stamp` written after a successful warm-up into the directory numba
really caches into (`counting.jit.cache.configured()`: $NUMBA_CACHE_DIR respected), holding
the sources' modification times and sizes (numba recompiles a kernel whose file was
rewritten); that directory is named after the key of every numba source, so an edit gives
a new directory without stamps. Library calls never print; only the CLI commands call these.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from counting.cells.registry import CELLS
from counting.jit import cache

ENGINE_MESSAGE = "compiling the engine's kernels once (about {s} s; cached for later runs)"
CELLS_MESSAGE = "compiling the cell kernels once (about 5 s; cached for later runs)"
_TINY = {"train": ["()", "(())", "()()"], "validation": ["(())()"], "long": ["((()))()"]}
# seconds of compilation measured cold (AMD EPYC, benchmarks/RESULTS.md), for the message
_ENGINE_SECONDS = {"train": {"lstm": 10, "relu": 5, "gru": 10}, "sweep": 30}
_WIDE_SECONDS = 20  # hidden size > 1: the multi-unit kernels of a cell


def stamp_path(kind: str) -> Path:
    """The stamp of warm-up `kind`, in the cache directory this process's kernels use."""
    return cache.configure() / f"warm-{kind}.stamp"


def is_warm(kind: str) -> bool:
    """Whether warm-up `kind` completed against the current sources and cache directory."""
    try:
        return stamp_path(kind).read_text() == cache.source_stamps()
    except OSError:
        return False


def _write_stamp(kind: str) -> None:
    try:
        stamp_path(kind).write_text(cache.source_stamps())
    except OSError:  # a read-only cache: the line is printed again next time, no harm
        pass


def warm(kind: str, message: str, work, stream=None) -> bool:
    """Run `work()` (compiling some kernels) after printing `message`, unless warm-up `kind`
    is stamped in the cache directory; then stamp it. Higher layers warm their own kernels
    with it (probes.worstcase.warmup). -> True when it compiled."""
    if is_warm(kind):
        return False
    print(message, file=stream or sys.stderr, flush=True)
    work()
    _write_stamp(kind)
    return True


def _train_kernels(loss: str, cells, hidden_size: int) -> None:
    from counting.engine import FastBackend
    from counting.training import TrainConfig, run_training

    for cell in cells:
        run_training(TrainConfig(cell=cell, hidden_size=hidden_size, epochs=1, loss=loss),
                     _TINY, backend_factory=FastBackend, progress=False)


def _sweep_kernels(loss: str, cells, hidden_size: int) -> None:
    from counting.engine import evaluate_many
    from counting.engine.runs import RunSpec, train_runs
    from counting.models import init_model
    from counting.training import TrainConfig

    with tempfile.TemporaryDirectory(prefix="counting-warmup-") as tmp:
        specs = [RunSpec(TrainConfig(cell=c, hidden_size=hidden_size, epochs=1, loss=loss),
                         Path(tmp) / c, {}, c) for c in cells]
        train_runs(specs, _TINY, progress=False)
    models = [init_model(c, hidden_size, 0, "float64") for c in cells]
    evaluate_many(models, _TINY["long"], loss)


def warm_engine(kind: str = "sweep", loss: str = "mse", stream=None, cells=CELLS,
                hidden_size: int = 1) -> bool:
    """Compile the engine's kernels for `kind` of work ("train": one run at a time,
    FastBackend, one warm-up per cell of `cells`; "sweep": many runs at once and
    evaluate_many, as sweeps and `reproduce` use them) at `hidden_size`, printing
    ENGINE_MESSAGE first, unless they are cached. -> True when it compiled.

    The kernels do not depend on the loss (it is an argument of theirs); `loss` is only the
    loss the warm-up trains with."""
    wide = int(hidden_size) > 1
    size = "wide" if wide else "h1"
    if kind == "train":
        todo = [c for c in dict.fromkeys(cells) if not is_warm(f"train-{c}-{size}")]
        if not todo:
            return False
        seconds = sum(_WIDE_SECONDS if wide else _ENGINE_SECONDS["train"][c] for c in todo)
        print(ENGINE_MESSAGE.format(s=seconds), file=stream or sys.stderr, flush=True)
        for cell in todo:
            _train_kernels(loss, (cell,), hidden_size)
            _write_stamp(f"train-{cell}-{size}")
        return True
    if kind != "sweep":
        raise ValueError(f"unknown warm-up kind {kind!r} (train, sweep)")
    seconds = _ENGINE_SECONDS["sweep"] + (3 * _WIDE_SECONDS if wide else 0)
    return warm(f"sweep-{size}", ENGINE_MESSAGE.format(s=seconds),
                lambda: _sweep_kernels(loss, CELLS, hidden_size), stream)


def warm_cells(stream=None) -> bool:
    """Compile the cell replicas (`counting.unrolled`) in both dtypes, printing
    CELLS_MESSAGE first, unless they are cached. -> True when it compiled."""
    return warm("cells", CELLS_MESSAGE, _cell_work, stream)


def _cell_work() -> None:
    import numpy as np

    from counting.models import init_model
    from counting.unrolled import CellReplica

    tok = np.array([0, 0, 1, 1], dtype=np.int8)
    for dtype in ("float64", "float32"):
        for cell in CELLS:
            replica = CellReplica.of(init_model(cell, 1, 0, dtype))
            if replica is not None:
                replica.run(tok, replica.zero_state())
                state = replica.zero_state()
                out = np.empty((len(replica.keys), 2, 4), dtype=replica.dtype)
                replica.run(tok, state, out=out[:, 0, :])  # the strided layout probes use
