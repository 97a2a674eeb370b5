"""Compile time of the numba kernels on a first run (issue 21): every case runs as a
subprocess with a fresh NUMBA_CACHE_DIR (what a fresh clone, a cluster node or a new temp
dir gives), once cold, then once warm with the same directory; cold - warm is the
compilation.

    python benchmarks/bench_compile.py                      # this checkout
    python benchmarks/bench_compile.py --code /work/base    # another checkout (PYTHONPATH)
    python benchmarks/bench_compile.py --cases train,smoke --json out.json

Cases:
    train      `counting train --cell relu` on smoke data (30 epochs)
    smoke      `counting reproduce --profile smoke`
    paper      `counting reproduce` (the paper profile: the first full reproduction)
    warmups    the warm-ups a reproduction runs before its bars, one at a time in one
               process: the engine's sweep kernels, the cell replicas, the worst-case
               kernels (where the compile time of `reproduce` goes)

Prints wall and CPU seconds (user + system of the command and the children it waited for:
on a shared machine the CPU time is the steadier measure of compilation, which runs on one
thread) and the 1-minute load average before and after each case.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

WARMUPS = r"""
import inspect, json, sys, time
try:
    from counting.jit import warmup as firstrun  # the warm-ups' home since issue 21
except ImportError:
    from counting import firstrun
from probes.worstcase import warmup as worstcase

def sweep():
    work = firstrun._sweep_kernels
    n = len(inspect.signature(work).parameters)
    work("mse") if n == 1 else work("mse", ("lstm", "relu", "gru"), 1)

out = {}
for name, work in (("engine (sweep kernels)", sweep), ("cells (counting.unrolled)",
                   firstrun._cell_work), ("worst case (probes.worstcase)", worstcase._work)):
    t, c = time.perf_counter(), time.process_time()
    work()
    out[name] = [time.perf_counter() - t, time.process_time() - c]
print("WARMUPS " + json.dumps(out))
"""


def _env(code: Path, cache: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(code),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float, str, str]:
    """-> (wall s, CPU s of the child and the children it waited for, stdout, stderr)."""
    t, c = time.perf_counter(), _cpu()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t, _cpu() - c
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stdout, proc.stderr


def _compiling_lines(stderr: str) -> list[str]:
    return [line for line in stderr.replace("\r", "\n").splitlines()
            if line.startswith("compiling")]


def run_case(case: str, code: Path, work: Path, data: Path) -> dict:
    cli = [sys.executable, "-m", "counting.cli"]
    cache = Path(tempfile.mkdtemp(prefix=f"nc-{case}-", dir=work))
    env = _env(code, cache)
    if case == "warmups":
        cmd = [sys.executable, "-c", WARMUPS]
    elif case == "train":
        cmd = cli + ["train", "--cell", "relu", "--data", str(data), "--out",
                     str(work / "train-out")]
    elif case == "smoke":
        cmd = cli + ["reproduce", "--profile", "smoke", "--out", str(work / "smoke-out")]
    elif case == "paper":
        cmd = cli + ["reproduce", "--out", str(work / "paper-out")]
    else:
        raise ValueError(case)
    row = {"case": case, "load_before": os.getloadavg()[0]}
    for phase in ("cold", "warm"):
        wall, cpu, out, err = _timed(cmd, env, work)
        row[phase] = wall
        row[f"{phase}_cpu"] = cpu
        row[f"{phase}_compiling_lines"] = _compiling_lines(err)
        if case == "warmups":
            line = [x for x in out.splitlines() if x.startswith("WARMUPS ")][-1]
            row[f"{phase}_parts"] = json.loads(line[len("WARMUPS "):])
        if case == "train":
            row[f"{phase}_line_before_bar"] = err.lstrip().startswith("compiling")
    row["load_after"] = os.getloadavg()[0]
    row["compile"] = row["cold"] - row["warm"]
    row["compile_cpu"] = row["cold_cpu"] - row["warm_cpu"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", type=Path, default=HERE, help="checkout to run (PYTHONPATH)")
    ap.add_argument("--cases", default="train,smoke,warmups,paper")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    code = args.code.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        work = Path(tmp)
        data = work / "smoke-data"
        subprocess.run([sys.executable, "-m", "counting.cli", "data", "--profile", "smoke",
                        "--out", str(data)], env=_env(code, work / "nc-data"), cwd=work,
                       check=True, capture_output=True)
        rows = []
        for case in args.cases.split(","):
            row = run_case(case, code, work, data)
            rows.append(row)
            print(f"{case:8s} wall: cold {row['cold']:7.1f} s  warm {row['warm']:6.1f} s  "
                  f"cold - warm {row['compile']:6.1f} s | CPU: cold {row['cold_cpu']:7.1f} s  "
                  f"warm {row['warm_cpu']:6.1f} s  cold - warm {row['compile_cpu']:6.1f} s | "
                  f"load {row['load_before']:.2f} -> {row['load_after']:.2f}", flush=True)
            for phase in ("cold", "warm"):
                for line in row[f"{phase}_compiling_lines"]:
                    print(f"         {phase}: {line}")
                if f"{phase}_parts" in row:
                    parts = ", ".join(f"{k} {w:.1f} s wall / {c:.1f} s CPU"
                                      for k, (w, c) in row[f"{phase}_parts"].items())
                    print(f"         {phase} warm-ups: {parts}")
    print(f"code {code}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
