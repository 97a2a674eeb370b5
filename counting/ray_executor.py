"""`RayExecutor`: the runs of a grid as Ray tasks, a chunk of runs each (`counting.executors`).

    with RayExecutor(address=None, cpus=None) as ex:      # connect (or start) Ray
        histories = ex.execute(batches, progress=True)    # the executors' contract

Connection. address None: the cluster in RAY_ADDRESS if set, else a new local Ray instance
with `cpus` CPUs (None: all cores); "auto" or HOST:PORT: join that cluster (Ray's own
resolution of "auto"). A process that is already connected (`ray.init` done) is used as it
is. An instance the executor started is shut down by `close()`.

Tasks. Unfinished runs are grouped by cell in lane groups of up to 8 runs (the engine's
SIMD width for evaluation: see `_survey`), and the groups cut into chunks
(`counting.chunking.plan_chunks`: big chunks first, smaller ones at the end) weighted by
their epochs to do times the engine's relative cost of a model-epoch of their cell
(`counting.engine.many.COST`, ReLU = 1), at least MIN_TASK_WEIGHT per chunk. A task's fixed
cost (Ray, the data, preparing the sets and models, the files) measured 1-4 ReLU
model-epochs on the paper's data (benchmarks/bench_ray.py, RESULTS.md), so it stays under
5 % of a chunk's work, which is then a second of work or more on the paper's data. A chunk
holds runs of one batch, each data set goes to the object store once, and a task asks for
`cpus_per_task` CPUs and trains on as many numba threads (`counting.ray_tasks.train_chunk`).
Before tasks go out, the driver compiles the kernels into the node's cache
(`counting.kernel_cache`).

Files. The driver writes each finished chunk's files atomically, a run's history.json after
its checkpoints, so a run with a complete history has all its files. Resume is per run: a
killed driver loses the chunks in flight; the same call again trains only runs without a
complete history (a run left unfinished by a local sweep resumes from its state file).

Faults. A task whose worker process dies is retried (`max_retries`) on another worker; its
runs start again from what the driver had written, so results do not change.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from counting.chunking import plan_chunks
from counting.executors import RunBatch
from counting.fileformat import atomic_path

if TYPE_CHECKING:  # the engine's kernels load on import
    from counting.engine.runs import RunSpec

RAY_REQUIREMENT = "ray[default]>=2.60,<3"
MIN_TASK_WEIGHT = 100.0  # ReLU model-epochs (see the module docstring)


def import_ray():
    """The `ray` module, or ValueError with how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(
            "Ray is not installed; install it with pip install -e '.[ray]' "
            f"(or pip install '{RAY_REQUIREMENT}')") from None
    return ray


def connect_ray(ray, address: str | None, cpus: int | None) -> bool:
    """Connect this process to Ray unless it is; -> whether a new instance was started.

    address None or "": RAY_ADDRESS if set, else a new local instance with `cpus` CPUs
    (None: all cores); "auto" or HOST:PORT: join that cluster (`cpus` must be None)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        ray.init(address="local", num_cpus=cpus or os.cpu_count(), include_dashboard=False,
                 logging_level=logging.WARNING)
        return True
    if cpus is not None:
        raise ValueError(f"the number of CPUs (--jobs) is for a local Ray instance; the "
                         f"cluster at {address} has its own")
    ray.init(address=address, logging_level=logging.WARNING)
    return True


class RayExecutor:
    """Runs batches as Ray tasks; see the module docstring."""

    def __init__(self, address: str | None = None, cpus: int | None = None,
                 cpus_per_task: int = 1, max_retries: int = 3,
                 min_task_weight: float = MIN_TASK_WEIGHT):
        if cpus is not None and (not isinstance(cpus, int) or cpus < 1):
            raise ValueError(f"cpus must be a positive integer, got {cpus!r}")
        if not isinstance(cpus_per_task, int) or cpus_per_task < 1:
            raise ValueError(f"cpus_per_task must be a positive integer, got {cpus_per_task!r}")
        self.address = address or None
        self.cpus = cpus
        self.cpus_per_task = cpus_per_task
        self.max_retries = max_retries
        self.min_task_weight = min_task_weight
        self.ray = import_ray()
        self._started = False
        # per task of the last execute, in order of completion: runs, train_seconds, pid,
        # threads, kernels (see counting.ray_tasks.train_chunk)
        self.last_tasks: list[dict] = []

    def connect(self) -> None:
        """Join or start Ray (`connect_ray`) and warm the node's kernel cache."""
        from counting.jit.node import warm_node_cache

        self._started = connect_ray(self.ray, self.address, self.cpus) or self._started
        warm_node_cache()

    def close(self) -> None:
        """Shut down the Ray instance this executor started, if any."""
        if self._started:
            self.ray.shutdown()
            self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def slots(self) -> int:
        """Tasks the cluster runs at once now (its CPUs / cpus_per_task, at least 1)."""
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus // self.cpus_per_task))

    def execute(self, batches: list[RunBatch], progress: bool = True) -> list[list[dict]]:
        """Train every unfinished run of `batches`; see `counting.executors`."""
        from tqdm.auto import tqdm

        self.connect()
        histories, todo = _survey(batches)
        plan = plan_chunks([[sum(run.weight for run in lanes) for lanes in groups]
                            for groups in todo], self.slots(), self.min_task_weight)
        pending = self._submit(batches, [[run for j in items for run in todo[bi][j]]
                                         for bi, items in plan])
        total = sum(s.config.epochs for b in batches for s in b.specs)
        left = sum(run.epochs_left for groups in todo for lanes in groups for run in lanes)
        bar = tqdm(total=total, initial=total - left, desc="runs x epochs (ray)", unit="epoch",
                   disable=not progress)
        self.last_tasks = []
        try:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                chunk = pending.pop(ready[0])
                result = ray_get(self.ray, ready[0])
                for run, files in zip(chunk, result["files"], strict=True):
                    histories[run.batch][run.index] = write_run_files(run.spec.out_dir, files)
                    bar.update(run.epochs_left)
                self.last_tasks.append({"runs": len(chunk), **{k: v for k, v in result.items()
                                                               if k != "files"}})
        finally:
            for ref in pending:
                self.ray.cancel(ref)
            bar.close()
        for batch in batches:
            if batch.state_path is not None:
                Path(batch.state_path).unlink(missing_ok=True)
        return histories

    def _submit(self, batches: list[RunBatch], chunks: list[list[_Unfinished]]) -> dict:
        """One task per chunk (data and resume state put in the object store once per
        batch); -> {task's result ref: its chunk}."""
        from counting.ray_tasks import train_chunk

        ray = self.ray
        task = ray.remote(train_chunk).options(num_cpus=self.cpus_per_task,
                                               max_retries=self.max_retries)
        data, states, pending = {}, {}, {}
        for chunk in chunks:
            batch = batches[chunk[0].batch]
            if id(batch.sets) not in data:
                data[id(batch.sets)] = ray.put(batch.sets)
            state = None
            if any(run.history is not None for run in chunk) and batch.state_path is not None:
                if chunk[0].batch not in states and Path(batch.state_path).is_file():
                    states[chunk[0].batch] = ray.put(Path(batch.state_path).read_bytes())
                state = states.get(chunk[0].batch)
            ref = task.remote(pickle.dumps([run.spec for run in chunk]), data[id(batch.sets)],
                              [run.history for run in chunk], state)
            pending[ref] = chunk
        return pending


@dataclass
class _Unfinished:
    """A run of the grid without a complete history: where it is, what it has done."""

    batch: int
    index: int
    spec: RunSpec
    history: bytes | None  # its unfinished history.json, None if it has none
    epochs_done: int

    @property
    def epochs_left(self) -> int:
        return self.spec.config.epochs - self.epochs_done

    @property
    def weight(self) -> float:
        """Its work in ReLU model-epochs (see the module docstring)."""
        from counting.engine.many import COST

        return COST[self.spec.config.cell] * self.epochs_left


def _survey(batches: list[RunBatch]) -> tuple[list[list], list[list[list[_Unfinished]]]]:
    """-> (histories: per batch, per run, its complete history or None; per batch, its
    unfinished runs in lane groups: up to VECTOR runs of one cell, heaviest cell first).

    The engine evaluates the runs of one cell in a task as one block of SIMD lanes, padded to
    a multiple of VECTOR (`counting.engine.many`), so tasks made of whole lane groups waste no
    more lanes than one process training all the runs. Raises ValueError for a directory
    that holds another run (as `train_runs` does) and for names repeated within a batch."""
    from counting.engine.many import COST, VECTOR
    from counting.engine.runs import _load_history

    histories = [[None] * len(b.specs) for b in batches]
    todo = []
    for bi, batch in enumerate(batches):
        if len({s.name for s in batch.specs}) != len(batch.specs):
            raise ValueError("run names must be unique within a batch")
        by_cell: dict[str, list[_Unfinished]] = {}
        for i, spec in enumerate(batch.specs):
            hist = _load_history(spec)
            done = len(hist["epochs"]) if hist else 0
            if hist and (hist["diverged"] or done >= spec.config.epochs):
                histories[bi][i] = hist
            else:
                raw = (spec.out_dir / "history.json").read_bytes() if hist else None
                by_cell.setdefault(spec.config.cell, []).append(
                    _Unfinished(bi, i, spec, raw, done))
        todo.append([runs[k:k + VECTOR] for cell in sorted(by_cell, key=lambda c: -COST[c])
                     for runs in [by_cell[cell]] for k in range(0, len(runs), VECTOR)])
    return histories, todo


def ray_get(ray, ref):
    """ray.get, raising the task's own exception (e.g. a ValueError) rather than Ray's."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def write_run_files(out_dir: Path, files: dict[str, bytes]) -> dict:
    """Write one run's files atomically, history.json last; -> the history."""
    for rel in sorted(files, key=lambda r: r == "history.json"):
        with atomic_path(Path(out_dir) / rel) as tmp:
            tmp.write_bytes(files[rel])
    return json.loads(files["history.json"])
