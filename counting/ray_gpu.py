"""`counting sweep --device cuda --ray`: the GPU sweep spread over the GPUs of a Ray cluster.

    ray_gpu_sweep(sets, cells, runs, epochs, seed, dtype, out_csv, *, address=None,
                  cpus=None, **gpu_sweep options) -> {"rows", "curves", "timing", "meta"}
    run_cli(args)   `counting sweep --device cuda --ray [ADDRESS]`

As `counting.gpu.sweep.gpu_sweep` (same arguments, same result and files), except that the
runs are cut into one share per GPU of the cluster: each cell's runs into near-equal
consecutive slices, share k taking slice k of every cell. Each share is one Ray task that
asks for one GPU and runs `gpu_sweep` on its runs' seeds (`counting.sweep.run_seed`, or the
given `seeds`). The driver puts the shares' rows back in cell and run order with their run
indexes in the whole sweep, concatenates the curves, and writes the summary CSV, its
.meta.json (the meta of share 0 with the sweep's runs, every share's device and timing) and
the curves file atomically.

Not resumable (as the one-GPU sweep); `run_dirs` is refused. Untested on GPUs: the tests run
it on a local Ray instance with declared GPUs and numba's CUDA simulator in the workers.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np

from counting.fileformat import atomic_path, write_json_atomic


def gpu_share(sets: dict, cells: tuple, runs: tuple, seeds: list, epochs: int, seed: int,
              dtype: str, options: dict) -> dict:
    """One share, on the GPU Ray assigned: `gpu_sweep` without files; -> its result."""
    from counting.gpu.sweep import gpu_sweep

    return gpu_sweep(sets, cells, runs, epochs, seed, dtype, None, seeds=seeds,
                     progress=False, **options)


def split_runs(runs: tuple[int, ...], shares: int) -> list[list[range]]:
    """Per share, per cell, the range of run indexes it trains (consecutive, near-equal)."""
    out = [[] for _ in range(shares)]
    for r in runs:
        bounds = np.linspace(0, r, shares + 1).round().astype(int)
        for k in range(shares):
            out[k].append(range(bounds[k], bounds[k + 1]))
    return out


def ray_gpu_sweep(sets: dict, cells=("lstm",), runs=10, epochs: int = 30, seed: int = 0,
                  dtype: str = "float64", out_csv=None, *, seeds=None, curves=None,
                  run_dirs=None, progress: bool = True, address: str | None = None,
                  cpus: int | None = None, **options) -> dict:
    """See the module docstring. address, cpus: as `counting.ray_executor.connect_ray`;
    options: lr, loss, block, adam_state, max_registers of `gpu_sweep`."""
    from tqdm.auto import tqdm

    from counting.gpu.sweep import _normalise, sweep_seeds, write_summary
    from counting.ray_executor import connect_ray, import_ray, ray_get

    if run_dirs is not None:
        raise ValueError("--run-dirs is not supported with --ray; run the GPU sweep without "
                         "--ray to write run directories")
    ray = import_ray()
    cells, runs = _normalise(cells, runs)
    all_seeds = [np.asarray(seeds[ci], dtype=np.int64) if seeds is not None
                 else sweep_seeds(seed, cell, runs[ci]) for ci, cell in enumerate(cells)]
    started = connect_ray(ray, address, cpus)
    try:
        t0 = time.perf_counter()
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if gpus < 1:
            raise ValueError("the Ray cluster has no GPU; --device cuda --ray needs one or more")
        task = ray.remote(gpu_share).options(num_gpus=1, num_cpus=1)
        data = ray.put(sets)
        shares = [s for s in split_runs(runs, gpus) if any(len(r) for r in s)]
        refs = [task.remote(data, cells, tuple(len(r) for r in share),
                            [all_seeds[ci][r.start:r.stop] for ci, r in enumerate(share)],
                            epochs, seed, dtype, options) for share in shares]
        bar = tqdm(refs, desc="gpu shares (ray)", unit="share", disable=not progress)
        results = [ray_get(ray, ref) for ref in bar]
        total_s = time.perf_counter() - t0
    finally:
        if started:
            ray.shutdown()
    rows = [{**row, "run": share[cells.index(row["cell"])].start + row["run"]}
            for share, res in zip(shares, results, strict=True) for row in res["rows"]]
    rows.sort(key=lambda row: (cells.index(row["cell"]), row["run"]))
    merged = {}  # per cell, each curve's rows of all shares in run order
    for cell in cells:
        parts = [res["curves"][cell] for res in results if cell in res["curves"]]
        if parts:
            merged[cell] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    timing = {"total_s": total_s, "shares": [res["timing"] for res in results]}
    meta = {**results[0]["meta"], "runs": list(runs), "seed": seed,
            "explicit_seeds": seeds is not None, "timing": timing,
            "device": ", ".join(sorted({res["meta"]["device"] for res in results})),
            "ray_shares": [[len(r) for r in share] for share in shares]}
    if out_csv is not None:
        write_summary(out_csv, rows)
        write_json_atomic(Path(str(out_csv) + ".meta.json"), meta)
    if curves is not None:
        with atomic_path(curves) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **{f"{c}_{k}": v for c, d in merged.items() for k, v in d.items()})
    return {"rows": rows, "curves": merged, "timing": timing, "meta": meta}


def run_cli(args) -> int:
    """`counting sweep --device cuda --ray`: `counting.gpu.sweep.run_cli` over Ray."""
    from counting.gpu.sweep import run_cli as gpu_run_cli
    from counting.ray_executor import import_ray

    import_ray()  # before any work: a missing Ray is a one-line error
    return gpu_run_cli(args, sweep=partial(ray_gpu_sweep, address=args.ray, cpus=args.jobs))
