"""Sweep executors: where the engine's training runs of one or many sweeps are trained.

A grid is a list of `RunBatch`es. A batch is runs that train on one data set with one loss
and share one resume-state file - e.g. the engine's runs of one sweep, as
`counting.sweep.run_sweep` builds it. A command that runs many sweeps (one per seed, on the
same data or on other data, each with its own output directory) hands all their batches to
ONE call, so that an executor can spread the whole grid at once:

    histories = executor.execute(batches, progress=True)
    # -> [[history dict per spec, in order] per batch, in order]

    # e.g. one sweep per seed s, each in its own directory, as one grid:
    batches = [RunBatch(specs_of_sweep(s), sets_of_seed(s), out / f"seed_{s}" / ".state.npz")
               for s in seeds]

Contract of `execute`, for every executor:
- When it returns, each run's directory `spec.out_dir` holds exactly the files
  `counting.engine.runs.train_runs` writes (history.json, best.pt, checkpoints/epoch_XX.pt;
  the wall-time field `seconds` aside), written atomically; the returned histories hold
  what those files hold (tuples may come back as lists). Results depend on nothing but
  each run's spec and data.
- Resumable: a run whose history.json is complete is not trained again. Other runs resume
  from their batch's `state_path` (see `train_runs`) or start afresh - an interrupted
  `execute`, called again with the same batches, finishes only what is missing.
- Run names (`spec.name`) are unique within a batch; the batch's state file is removed
  once all its runs are complete.

Executors:
    LocalExecutor(jobs=None)   this process: batch after batch, each batch's runs side by side
                               on `jobs` threads (None: all cores); resumes per epoch
    RayExecutor(...)           `counting.ray_executor`: the runs of all batches as Ray tasks
                               of a few runs each; the driver writes every file; resumes per run
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine's kernels load on import; executors import it when they run
    from counting.engine.runs import RunSpec


@dataclass
class RunBatch:
    """Runs on one data set ({set name: words}, "train" and "validation" required, "long"
    evaluated when present) with one loss; `state_path` is their resume-state file (None:
    unfinished runs restart)."""

    specs: list[RunSpec]
    sets: dict[str, list[str]]
    state_path: Path | None = None


class LocalExecutor:
    """Trains in this process with `counting.engine.runs.train_runs`, one batch at a time."""

    def __init__(self, jobs: int | None = None):
        if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
            raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
        self.jobs = jobs

    def execute(self, batches: list[RunBatch], progress: bool = True) -> list[list[dict]]:
        import numba

        from counting.engine import set_jobs
        from counting.engine.runs import train_runs

        threads = numba.get_num_threads()
        set_jobs(self.jobs)
        try:
            return [train_runs(b.specs, b.sets, progress, b.state_path) for b in batches]
        finally:
            numba.set_num_threads(threads)
