"""`counting sweep --ray`: the Ray executor on a real local Ray instance (2 CPUs).

Same results as a sweep without Ray (checkpoint tensors and histories exactly, summaries),
one grid of several sweeps, numba threads = the task's CPUs, workers that load the kernels
from the node cache without compiling, resume after the driver is killed (SIGKILL), and a
killed worker's task retried elsewhere. Ray's `local_mode` no longer exists, so these tests
start a real instance once per module; they are skipped where Ray is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is not installed; pip install -e '.[ray]' to run the Ray executor tests")

import torch  # noqa: E402

from counting.checkpoint import load_checkpoint  # noqa: E402
from counting.datasets import make_datasets, write_datasets  # noqa: E402
from counting.engine.runs import RunSpec  # noqa: E402
from counting.executors import LocalExecutor, RunBatch  # noqa: E402
from counting.ray_executor import RayExecutor  # noqa: E402
from counting.sweep import run_seed, run_sweep  # noqa: E402
from counting.training import TrainConfig  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs; -> its address (for drivers in other processes)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=5, progress=False)
    return {"train": s["train"][:60], "validation": s["validation"][:30], "long": s["long"][:8]}


def sweep_files(out: Path) -> dict:
    """Every file of a sweep, comparable exactly: histories without `seconds`, checkpoints
    as (format fields, meta, {name: tensor as bytes and dtype}), summaries with the output
    directory replaced; hidden files (resume state) left out."""
    snap = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or any(part.startswith(".") for part in Path(rel).parts):
            continue
        if p.name == "history.json":
            h = json.loads(p.read_text())
            for r in h["epochs"]:
                r.pop("seconds")
            snap[rel] = h
        elif p.suffix == ".pt":
            raw = torch.load(p, weights_only=True)
            tensors = {k: (str(v.dtype), v.numpy().tobytes()) for k, v in
                       raw["state_dict"].items()}
            snap[rel] = ({k: raw[k] for k in ("format", "cell", "hidden_size", "dtype")},
                         raw["meta"], tensors)
            load_checkpoint(p)  # and it is a valid checkpoint
        else:
            snap[rel] = p.read_text().replace(str(out), "OUT")
    return snap


def test_a_ray_sweep_equals_the_sweep_without_ray(cluster, sets, tmp_path):
    local = run_sweep(sets, tmp_path / "local", runs=(2, 3, 2), epochs=2, progress=False)
    ex = RayExecutor()
    remote = run_sweep(sets, tmp_path / "ray", runs=(2, 3, 2), epochs=2, progress=False,
                       executor=ex)
    expected = sweep_files(tmp_path / "local")
    assert sum(k.endswith(".pt") for k in expected) == 7 * 2  # best.pt, epoch_01.pt
    assert sweep_files(tmp_path / "ray") == expected
    assert [{k: v for k, v in r.items() if k != "dir"} for r in remote] == \
        [{k: v for k, v in r.items() if k != "dir"} for r in local]
    assert not (tmp_path / "ray" / ".state.npz").exists()
    assert sum(t["runs"] for t in ex.last_tasks) == 7
    assert all(t["threads"] == 1 for t in ex.last_tasks)  # 1 CPU per task -> 1 numba thread
    # the driver compiled into the node cache; the workers only loaded from it
    assert all(t["kernels"]["compiled"] == 0 and t["kernels"]["loaded"] > 0
               for t in ex.last_tasks)


def _specs(out: Path, seed: int, epochs: int, runs=(("lstm", 2), ("relu", 2), ("gru", 1))):
    return [RunSpec(TrainConfig(cell=c, epochs=epochs, seed=run_seed(seed, c, r)),
                    out / c / f"run_{r:02d}", {"sweep_seed": seed, "cell": c, "run": r},
                    f"{c}/run_{r:02d}")
            for c, n in runs for r in range(n)]


def test_one_grid_of_sweeps_on_different_data(cluster, sets, tmp_path):
    """Two sweeps (other seeds, other data, other directories) submitted as one grid."""
    other = {k: v[::-1][: max(2, len(v) // 2)] for k, v in sets.items()}
    grid = [RunBatch(_specs(tmp_path / "ray" / "a", 0, 3), sets, tmp_path / "ray" / "a.npz"),
            RunBatch(_specs(tmp_path / "ray" / "b", 1, 2), other, tmp_path / "ray" / "b.npz")]
    alone = [RunBatch(_specs(tmp_path / "loc" / "a", 0, 3), sets, tmp_path / "loc" / "a.npz"),
             RunBatch(_specs(tmp_path / "loc" / "b", 1, 2), other, tmp_path / "loc" / "b.npz")]
    ex = RayExecutor(min_task_weight=1.0)  # small chunks: tasks of both sweeps interleave
    got = ex.execute(grid, progress=False)
    want = [LocalExecutor().execute([b], progress=False)[0] for b in alone]
    def timeless(grid):  # as JSON reads it back, without the wall times
        grid = json.loads(json.dumps(grid))
        for batch in grid:
            for h in batch:
                for e in h["epochs"]:
                    e.pop("seconds")
        return grid

    assert timeless(got) == timeless(want) and len(got[0]) == 5 and len(got[1]) == 5
    assert [h["config"]["epochs"] for h in got[1]] == [2] * 5
    for name in ("a", "b"):
        assert sweep_files(tmp_path / "ray" / name) == sweep_files(tmp_path / "loc" / name)
    assert len(ex.last_tasks) > 2


def test_numba_threads_follow_the_cpus_of_the_task(cluster, sets, tmp_path):
    ex = RayExecutor(cpus_per_task=2)
    run_sweep(sets, tmp_path, cells=("relu",), runs=(2,), epochs=1, progress=False,
              executor=ex)
    assert [t["threads"] for t in ex.last_tasks] == [2] * len(ex.last_tasks)


def test_a_local_sweep_interrupted_is_finished_by_ray_from_its_state(cluster, sets,
                                                                    tmp_path, monkeypatch):
    """A sweep without Ray killed after epoch 2 of 3 (its state file holds epoch 1), then
    the same sweep with Ray: the workers resume each run from epoch 1, as a local resume."""
    import counting.engine.runs as runs_mod

    real, calls = runs_mod._save_state, []

    def killed_at_the_second_state(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args)

    with monkeypatch.context() as m:
        m.setattr(runs_mod, "_save_state", killed_at_the_second_state)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(sets, tmp_path / "ray", runs=(1, 2, 1), epochs=3, progress=False)
    first = json.loads((tmp_path / "ray" / "relu" / "run_01" / "history.json").read_text())
    assert len(first["epochs"]) == 2 and (tmp_path / "ray" / ".state.npz").is_file()
    ex = RayExecutor()
    run_sweep(sets, tmp_path / "ray", runs=(1, 2, 1), epochs=3, progress=False, executor=ex)
    final = json.loads((tmp_path / "ray" / "relu" / "run_01" / "history.json").read_text())
    assert final["epochs"][0] == first["epochs"][0]  # epoch 1 kept, wall time included
    assert final["epochs"][1]["seconds"] != first["epochs"][1]["seconds"]  # epoch 2 redone
    assert not (tmp_path / "ray" / ".state.npz").exists()
    run_sweep(sets, tmp_path / "local", runs=(1, 2, 1), epochs=3, progress=False)
    assert sweep_files(tmp_path / "ray") == sweep_files(tmp_path / "local")


KILLED = textwrap.dedent("""
    import sys
    from counting.ray_executor import RayExecutor
    from counting.sweep import run_sweep
    run_sweep(sys.argv[1], sys.argv[2], runs=(3, 4, 3), epochs=int(sys.argv[3]),
              progress=False, executor=RayExecutor(sys.argv[4], min_task_weight=1.0))
""")


def _complete_runs(out: Path, epochs: int) -> int:
    n = 0
    for p in out.glob("*/run_*/history.json"):
        try:
            n += len(json.loads(p.read_text())["epochs"]) == epochs
        except (OSError, ValueError, KeyError):
            pass
    return n


def test_killed_driver_resumes_with_only_the_missing_runs(cluster, sets, tmp_path):
    """The driver (another process, joining this cluster by address) killed with SIGKILL
    before any result, once 2 of the 10 runs are complete and once 6 are (tasks finish
    lane groups of 3-4 runs); then the same sweep again trains only the rest."""
    epochs = 60
    data = tmp_path / "data"
    write_datasets(data, sets)
    ref = tmp_path / "ref"
    run_sweep(data, ref, runs=(3, 4, 3), epochs=epochs, progress=False)
    out = tmp_path / "out"
    for at in (0, 2, 6):
        proc = subprocess.Popen([sys.executable, "-c", KILLED, str(data), str(out),
                                 str(epochs), cluster], cwd=ROOT)
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and (
                _complete_runs(out, epochs) < at if at else not (out / "sweep.json").exists()):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (out / "summary.csv").exists(), "the sweep ended before it was killed"
    done = _complete_runs(out, epochs)
    assert 6 <= done < 10
    ex = RayExecutor(min_task_weight=1.0)
    run_sweep(data, out, runs=(3, 4, 3), epochs=epochs, progress=False, executor=ex)
    assert sum(t["runs"] for t in ex.last_tasks) == 10 - done  # only the missing runs
    assert sweep_files(out) == sweep_files(ref)


def _kill_first_chunk_worker(deadline: float) -> int:
    """SIGKILL the first process found running a chunk: Ray titles a worker process
    `ray::<task name>` while it runs a task (found through /proc)."""
    while time.time() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                title = (proc / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if proc.name.isdigit() and title == b"ray::train_chunk":
                os.kill(int(proc.name), signal.SIGKILL)
                return int(proc.name)
        time.sleep(0.005)
    raise AssertionError("no worker ran a chunk")


def _sweep_with_a_killed_worker(sets, out: Path, max_retries: int):
    ex = RayExecutor(max_retries=max_retries, min_task_weight=1.0)
    outcome = {}

    def driver():
        try:
            outcome["rows"] = run_sweep(sets, out, runs=(2, 2, 0), epochs=20, progress=False,
                                        executor=ex)
        except Exception as err:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = err

    thread = threading.Thread(target=driver)
    thread.start()
    killed = _kill_first_chunk_worker(time.time() + 300)
    thread.join(600)
    return killed, ex, outcome


@pytest.fixture(scope="module")
def long_sets(sets):
    """Enough words that a one-run chunk trains for a while (the kill lands mid-task)."""
    return {**sets, "train": sets["train"] * 20}


needs_proc = pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(),
                                reason="finds Ray's worker processes through /proc (Linux)")


@needs_proc
def test_a_killed_worker_task_is_retried_and_the_sweep_is_identical(cluster, long_sets,
                                                                    tmp_path):
    killed, ex, outcome = _sweep_with_a_killed_worker(long_sets, tmp_path / "ray", 3)
    assert "error" not in outcome, outcome.get("error")
    assert killed not in {t["pid"] for t in ex.last_tasks}  # its task finished elsewhere
    assert sum(t["runs"] for t in ex.last_tasks) == 4
    run_sweep(long_sets, tmp_path / "local", runs=(2, 2, 0), epochs=20, progress=False)
    assert sweep_files(tmp_path / "ray") == sweep_files(tmp_path / "local")


@needs_proc
def test_without_retries_the_killed_worker_fails_the_sweep(cluster, long_sets, tmp_path):
    """The control: the same kill with max_retries=0 is an error, not a silent gap."""
    _, _, outcome = _sweep_with_a_killed_worker(long_sets, tmp_path, 0)
    assert isinstance(outcome.get("error"), ray.exceptions.WorkerCrashedError)
    assert not (tmp_path / "summary.csv").exists()
