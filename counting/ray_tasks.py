"""What a Ray worker runs for `counting.ray_executor.RayExecutor`: one chunk of runs.

    train_chunk(specs_pickle, sets, histories, state)
        -> {"files", "train_seconds", "cpu_seconds", "pid", "threads", "kernels"}

specs_pickle: `pickle.dumps` of the chunk's list of `counting.engine.runs.RunSpec`. They
travel as bytes because unpickling a RunSpec imports the engine, whose kernels must first be
pointed at the node cache. The worker trains the chunk with the numba engine
(`counting.engine.runs.train_runs`) in a private temporary directory - run k of the chunk in
TMP/k instead of `specs[k].out_dir` - and returns every file it wrote as bytes, {path
relative to the run directory: bytes} per run, for the driver to write. histories[k]: the
bytes of run k's unfinished history.json (None: none), and `state`: the bytes of the batch's
resume-state file (None: none), so that a run interrupted in an earlier sweep resumes where
that stopped, as `train_runs` resumes.

Before its first chunk a worker process loads the kernels from the node's shared cache
(`counting.kernel_cache.prepare_process`); each chunk runs on as many numba threads as the
CPUs Ray assigned to the task.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def assigned_cpus() -> int:
    """CPUs Ray assigned to the running task (at least 1)."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return max(1, int(cpus))


def train_chunk(specs_pickle: bytes, sets: dict[str, list[str]],
                histories: list[bytes | None], state: bytes | None) -> dict:
    """Train the pickled runs on `sets`; -> their files (see the module docstring), the
    wall seconds spent in `train_runs`, the CPU seconds of the whole task (all threads of
    this process), this worker's PID, its numba thread count, and how many kernels this
    worker process compiled and loaded so far (`kernel_counts`)."""
    from counting.jit.node import kernel_counts, prepare_process

    cpu0 = time.process_time()
    prepare_process()
    from counting.engine import set_jobs
    from counting.engine.runs import train_runs

    specs = pickle.loads(specs_pickle)
    threads = set_jobs(assigned_cpus())
    with tempfile.TemporaryDirectory(prefix="counting-chunk-") as tmp:
        local = [replace(s, out_dir=Path(tmp) / str(k)) for k, s in enumerate(specs)]
        for spec, history in zip(local, histories, strict=True):
            if history is not None:
                spec.out_dir.mkdir(parents=True)
                (spec.out_dir / "history.json").write_bytes(history)
        state_path = None
        if state is not None:
            state_path = Path(tmp) / "state.npz"
            state_path.write_bytes(state)
        t0 = time.perf_counter()
        train_runs(local, sets, progress=False, state_path=state_path)
        seconds = time.perf_counter() - t0
        files = [_read_tree(spec.out_dir) for spec in local]
    return {"files": files, "train_seconds": seconds, "cpu_seconds": time.process_time() - cpu0,
            "pid": os.getpid(), "threads": threads, "kernels": kernel_counts()}


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}
