"""Ray executor benchmark: a sweep with `--ray` against the same sweep without it.

Issue [scale] targets on a local Ray instance of 2 CPUs: the sweep's overhead against the
same sweep without Ray <= 10 %, measured in one run; Ray's per-task overhead recorded (the
chunks are sized so that it stays under 5 % of a task's work).

    python benchmarks/bench_ray.py --data /tmp/paper_data                 # ~15 min
    python benchmarks/bench_ray.py --data DIR --results benchmarks/RESULTS.md
    python benchmarks/bench_ray.py --data DIR --fixed-only                # per-task cost only

Run from the repository root (with PYTHONPATH=. where the installed `counting` is another
checkout): the Ray workers import `counting` as the driver does.

Steps (paper data: 10,000 train / 5,000 validation / 5,000 long words, generated with seed 0
unless --data is given):
  1. start a local Ray instance with --cpus CPUs (timed: a one-off cost of `counting sweep
     --ray`), warm the node's kernel cache and every worker process (prepare_process), and
     compile the engine in this process, none of it in the timings below;
  2. the sweep, --repeats times, alternating: `run_sweep` of the paper protocol (10 LSTM +
     30 ReLU + 10 GRU runs, --epochs epochs, all run files written) in this process on
     --cpus threads (`LocalExecutor`), then the same with `RayExecutor` on the running
     instance; wall times, the median of the pairs' ratios (a pair ran back to back, under
     about the same load), and the CPU time of all processes of this session (this one, the
     Ray instance, its workers);
  3. Ray's per-task overhead, two ways:
     - an empty task's round trip (median of 50 sequential calls);
     - a chunk's fixed cost on this data: one LSTM run as one task with 1, 2 and 4 epochs
       (driver-side round trip including writing the files, --repeats times each,
       interleaved); the intercept of a least-squares line through (epochs, median
       seconds) is the cost of a task that trains nothing: Ray, unpickling the data,
       preparing the sets, returning and writing the files. Its share of the protocol's
       tasks is intercept / mean task seconds. Also the median of round trip minus the
       task's own time in `train_runs` (the part outside training).
The machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

RUNS = (10, 30, 10)
CELLS = ("lstm", "relu", "gru")


def environment(cpus: int) -> dict:
    import numba
    import ray

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ray_cpus": cpus,
            "python": platform.python_version(), "ray": ray.__version__,
            "numba": numba.__version__, "load_before": os.getloadavg()}


def load_sets(data: str | None) -> dict:
    from counting.datasets import load_datasets, make_datasets

    names = ("train", "validation", "long")
    if data and Path(data, "train.txt").is_file():
        return load_datasets(data, names)
    print("generating the paper data (not timed) ...")
    s = make_datasets("paper", seed=0, progress=False)
    return {k: s[k] for k in names}


def start(cpus: int) -> dict:
    """Start Ray, warm the node cache and every worker, compile here; -> timings."""
    import ray

    from counting.kernel_cache import prepare_process, warm_node_cache
    from counting.ray_executor import connect_ray, import_ray
    from counting.sweep import run_sweep

    t0 = time.perf_counter()
    connect_ray(import_ray(), None, cpus)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm_node_cache()
    t_cache = time.perf_counter() - t0

    @ray.remote(num_cpus=1)
    def prepare(_):
        prepare_process()
        time.sleep(0.5)  # hold the slot, so that each worker process gets one
        return os.getpid()

    t0 = time.perf_counter()
    pids = set(ray.get([prepare.remote(i) for i in range(cpus)]))
    t_workers = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:  # the local engine, compiled or loaded
        run_sweep({"train": ["()"], "validation": ["()"]}, tmp, runs=1, epochs=1,
                  progress=False)
    return {"ray_init_s": t_init, "node_cache_s": t_cache, "worker_start_s": t_workers,
            "workers": len(pids)}


def session_cpu_s() -> float:
    """CPU seconds (user + system) used so far by the processes of this session: this
    process, and the Ray instance it started with its workers (Linux /proc)."""
    sid, total = os.getsid(0), 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session ...
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def sweeps(sets: dict, cpus: int, epochs: int, repeats: int, root: Path) -> dict:
    from counting.executors import LocalExecutor
    from counting.ray_executor import RayExecutor
    from counting.sweep import run_sweep

    wall = {"local": [], "ray": []}
    cpu = {"local": [], "ray": []}
    tasks = []
    for rep in range(repeats):
        for name in ("local", "ray"):
            out = root / f"{name}_{rep}"
            ex = LocalExecutor(cpus) if name == "local" else RayExecutor()
            c0, t0 = session_cpu_s(), time.perf_counter()
            run_sweep(sets, out, runs=RUNS, epochs=epochs, jobs=cpus, progress=False,
                      executor=ex)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(session_cpu_s() - c0)
            if name == "ray":
                tasks = ex.last_tasks
            shutil.rmtree(out)
        print(f"repeat {rep + 1}: local {wall['local'][-1]:.2f} s ({cpu['local'][-1]:.1f} "
              f"CPU s), ray {wall['ray'][-1]:.2f} s ({cpu['ray'][-1]:.1f} CPU s)", flush=True)
    ratios = [r / loc for r, loc in zip(wall["ray"], wall["local"], strict=True)]
    local, ray_ = statistics.median(wall["local"]), statistics.median(wall["ray"])
    return {"epochs": epochs, "repeats": repeats, "local_s": wall["local"],
            "ray_s": wall["ray"], "local_median_s": local, "ray_median_s": ray_,
            "pair_ratios": ratios, "overhead": statistics.median(ratios) - 1,
            "local_cpu_s": cpu["local"], "ray_cpu_s": cpu["ray"],
            "cpu_overhead": statistics.median(cpu["ray"]) / statistics.median(cpu["local"]) - 1,
            "tasks": len(tasks), "runs_per_task": [t["runs"] for t in tasks],
            "task_train_s": [t["train_seconds"] for t in tasks],
            "kernels_compiled_by_workers": sum(t["kernels"]["compiled"] for t in tasks)}


def empty_task_s() -> float:
    import ray

    @ray.remote(num_cpus=1)
    def empty():
        return None

    ray.get(empty.remote())
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        ray.get(empty.remote())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def chunk_fixed_cost(sets: dict, repeats: int, root: Path) -> dict:
    """A one-run chunk's cost against its epochs (see the module docstring)."""
    import ray

    from counting.engine.runs import RunSpec
    from counting.ray_executor import write_run_files
    from counting.ray_tasks import train_chunk
    from counting.sweep import run_seed
    from counting.training import TrainConfig

    task = ray.remote(train_chunk).options(num_cpus=1)
    ref = ray.put(sets)
    epochs = (1, 2, 4)
    wall = {e: [] for e in epochs}
    cpu = {e: [] for e in epochs}
    outside = []  # round trip minus the task's own time in train_runs
    for _ in range(repeats):
        for e in epochs:
            spec = RunSpec(TrainConfig(cell="lstm", epochs=e, seed=run_seed(0, "lstm", 0)),
                           root / "chunk", {}, "lstm/run_00")
            t0 = time.perf_counter()
            result = ray.get(task.remote(pickle_specs([spec]), ref, [None], None))
            write_run_files(root / "chunk", result["files"][0])  # what the driver does
            wall[e].append(time.perf_counter() - t0)
            cpu[e].append(result["cpu_seconds"])
            outside.append(wall[e][-1] - result["train_seconds"])
    fits = {}
    for name, seconds in (("wall", wall), ("cpu", cpu)):
        med = [statistics.median(seconds[e]) for e in epochs]
        slope, intercept = np.polyfit(epochs, med, 1)
        fits[name] = {"median_s": med, "per_epoch_s": float(slope), "fixed_s": float(intercept)}
    return {"epochs": list(epochs), **fits, "outside_train_runs_s": statistics.median(outside)}


def pickle_specs(specs) -> bytes:
    import pickle

    return pickle.dumps(specs)


def markdown(env: dict, st: dict, sw: dict, empty: float, fixed: dict) -> str:
    from counting.engine.many import COST
    from counting.ray_executor import MIN_TASK_WEIGHT

    mean_task = statistics.mean(sw["task_train_s"])
    cpu = fixed["cpu"]
    units = cpu["fixed_s"] / (cpu["per_epoch_s"] / COST["lstm"])
    lines = [
        "## Ray executor",
        "",
        f"`python benchmarks/bench_ray.py` on {env['cpu']}, {env['cores']} cores; python "
        f"{env['python']}, ray {env['ray']}, numba {env['numba']}. A local Ray instance of "
        f"{env['ray_cpus']} CPUs. Paper data. Load average (1 min) "
        f"{env['load_before'][0]:.2f} before, {env['load_after'][0]:.2f} after (the machine "
        "is shared; both variants ran alternately, so they saw about the same load).",
        "",
        f"**Sweep** (paper protocol: 10 LSTM + 30 ReLU + 10 GRU runs x {sw['epochs']} epochs, "
        f"all run files written; {sw['repeats']} pairs, alternating): without Ray (this "
        f"process, {env['ray_cpus']} threads) median {sw['local_median_s']:.2f} s; with Ray "
        f"(`RayExecutor`, instance running) median {sw['ray_median_s']:.2f} s. "
        f"**Overhead {100 * sw['overhead']:+.1f} %** (median of the pairs' ratios; pairs "
        f"{', '.join(f'{100 * (r - 1):+.0f}' for r in sw['pair_ratios'])} %; target <= 10 %: "
        f"{'met' if sw['overhead'] <= 0.10 else 'NOT met'}). CPU time of this process, the "
        f"Ray instance and its workers: {statistics.median(sw['local_cpu_s']):.1f} s "
        f"without Ray, {statistics.median(sw['ray_cpu_s']):.1f} s with "
        f"(**{100 * sw['cpu_overhead']:+.1f} %**; far less sensitive to the machine's load "
        f"than wall time). {sw['tasks']} tasks of {min(sw['runs_per_task'])}-"
        f"{max(sw['runs_per_task'])} runs, {mean_task:.2f} s of training each on average; "
        f"kernels compiled by the workers: {sw['kernels_compiled_by_workers']}.",
        "",
        "| per-task overhead | time | share of a mean task |",
        "|---|---|---|",
        f"| empty task, round trip | {empty * 1000:.1f} ms | {100 * empty / mean_task:.2f} % |",
        f"| round trip minus the task's time in `train_runs` (Ray, data, files) | "
        f"{fixed['outside_train_runs_s'] * 1000:.0f} ms | "
        f"{100 * fixed['outside_train_runs_s'] / mean_task:.1f} % |",
        f"| fixed cost of a chunk, wall (the above + preparing the sets and models) | "
        f"{fixed['wall']['fixed_s'] * 1000:.0f} ms | "
        f"{100 * fixed['wall']['fixed_s'] / mean_task:.1f} % |",
        f"| fixed cost of a chunk, CPU of the task | {cpu['fixed_s'] * 1000:.0f} ms | "
        f"{100 * cpu['fixed_s'] / mean_task:.1f} % |",
        "",
        f"Fixed cost = the intercept of a one-LSTM-run task's time against its epochs (1, 2, "
        f"4; wall {', '.join(f'{s:.3f}' for s in fixed['wall']['median_s'])} s, task CPU "
        f"{', '.join(f'{s:.3f}' for s in cpu['median_s'])} s). In CPU it is {units:.1f} ReLU "
        f"model-epochs (an LSTM one weighs {COST['lstm']:g}); a chunk weighs at least "
        f"MIN_TASK_WEIGHT = {MIN_TASK_WEIGHT:g}, so the fixed cost is at most "
        f"{100 * units / MIN_TASK_WEIGHT:.1f} % of a chunk's work (target < 5 %: "
        f"{'met' if units / MIN_TASK_WEIGHT < 0.05 else 'NOT met'}).",
        "",
        f"One-off costs of `counting sweep --ray` (not in the overhead above): starting the "
        f"local instance {st['ray_init_s']:.1f} s; the node's kernel cache "
        f"{st['node_cache_s']:.1f} s (compiled once per engine version, then a file check); "
        f"worker processes loading the kernels {st['worker_start_s']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def splice(path: Path, section: str) -> None:
    """Replace (or append) the `## Ray executor` section of a markdown file."""
    from counting.fileformat import write_text_atomic

    text = path.read_text() if path.is_file() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Ray executor\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="paper data directory (else generated)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the Ray instance (default 2)")
    ap.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    ap.add_argument("--repeats", type=int, default=5, help="pairs of sweeps (default 5)")
    ap.add_argument("--fixed-only", action="store_true",
                    help="measure only the per-task overhead (no sweeps)")
    ap.add_argument("--results", default=None, help="splice the section into this .md file")
    ap.add_argument("--json", default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    import ray

    env = environment(args.cpus)
    sets = load_sets(args.data)
    st = start(args.cpus)
    print("start", json.dumps(st), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        empty = empty_task_s()
        fixed = chunk_fixed_cost(sets, args.repeats, Path(tmp))
        print("per task", json.dumps({"empty_task_s": empty, "fixed": fixed}), flush=True)
        if args.fixed_only:
            ray.shutdown()
            return 0
        sw = sweeps(sets, args.cpus, args.epochs, args.repeats, Path(tmp))
    ray.shutdown()
    env["load_after"] = os.getloadavg()
    print(json.dumps({"sweep": sw, "empty_task_s": empty, "fixed": fixed}))
    md = markdown(env, st, sw, empty, fixed)
    print()
    print(md)
    if args.results:
        splice(Path(args.results), md)
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "start": st, "sweep": sw,
                                               "empty_task_s": empty, "fixed": fixed},
                                              indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
