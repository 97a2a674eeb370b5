"""Seed sweeps at scale on one GPU: thousands of runs per cell, a compact summary.

    gpu_sweep(sets, cells=("lstm",), runs=10_000, epochs=30, seed=0, dtype="float64",
              out_csv="OUT/summary.csv") -> {"rows", "curves", "timing", "meta"}

Every run of a cell trains at once, one CUDA thread per run, one kernel launch per epoch; the
paper protocol (online Adam, a fresh shuffle every epoch, validation loss after every epoch,
best epoch by validation loss over all epochs, divergence = a non-finite loss) as in
`counting.training.run_training`, with the same init weights (`init_model`) and shuffle
orders (`shuffle_orders`) per seed. Seeds follow `counting sweep`: run r of cell c gets
`counting.sweep.run_seed(seed, c, r)`. After the last epoch each run's best-epoch weights are
evaluated on the very-long set.

Output (written atomically):
    out_csv            one row per run, SUMMARY_KEYS
    <out_csv>.meta.json  options, device, data sizes and timings
    curves (optional)  .npz: per cell, (runs, epochs) online loss, validation loss, accuracy
    run_dirs (optional)  <dir>/<cell>/run_<NN>/history.json + best.pt, as `counting train`
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from counting.fileformat import atomic_path, write_json_atomic, write_text_atomic
from counting.models import CELLS
from counting.training import DEFAULT_LR, TrainConfig, config_record

SUMMARY_KEYS = ("run", "cell", "seed", "best_epoch", "best_validation_loss", "diverged",
                "diverged_at_epoch", "epochs_done", "very_long_fpf", "very_long_fully_right",
                "very_long_n", "verdict", "at_zero", "early", "depth_dependent", "other")
REQUIRED_SETS = ("train", "validation", "very_long")


def _normalise(cells, runs) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if isinstance(cells, str):
        cells = tuple(c.strip() for c in cells.split(",") if c.strip())
    cells = tuple(cells)
    if not cells or len(set(cells)) != len(cells) or any(c not in CELLS for c in cells):
        raise ValueError(f"cells must be distinct names among {CELLS}, got {list(cells)}")
    if isinstance(runs, str):
        runs = tuple(int(r) for r in runs.split(","))
    runs = (int(runs),) * len(cells) if np.ndim(runs) == 0 else tuple(int(r) for r in runs)
    if len(runs) == 1:
        runs = runs * len(cells)
    if len(runs) != len(cells) or any(r < 0 for r in runs):
        raise ValueError(f"runs needs one count >= 0 per cell {list(cells)}, got {list(runs)}")
    return cells, runs


def sweep_seeds(seed: int, cell: str, n: int) -> np.ndarray:
    """Init seeds of runs 0..n-1 of `cell`, as `counting sweep` assigns them."""
    from counting.sweep import run_seed

    return np.array([run_seed(seed, cell, r) for r in range(n)], dtype=np.int64)


def gpu_sweep(sets: dict, cells=("lstm",), runs=10, epochs: int = 30, seed: int = 0,
              dtype: str = "float64", out_csv=None, *, lr: float | None = None,
              loss: str = "mse", seeds=None, block: int | None = None, curves=None,
              run_dirs=None, progress: bool = True, adam_state: str = "global",
              max_registers: int | None = None) -> dict:
    """Train `runs` runs of each cell on the GPU; -> {"rows", "curves", "timing", "meta"}.

    sets: {"train", "validation", "very_long": list of words}. runs: one count for all cells
    or one per cell. seeds: explicit init seeds (one array per cell) instead of the sweep's.
    lr: None for each cell's paper lr. out_csv / curves / run_dirs: paths to write, or None.
    """
    from counting.gpu.batch import FlatSet, ModelBatch
    from counting.gpu.device import device_name, require_cuda
    from counting.gpu.params import init_params
    from counting.gpu.shuffle import OrderStream
    from counting.gpu.verdict import verdicts

    cuda = require_cuda()
    cells, runs = _normalise(cells, runs)
    for name in REQUIRED_SETS:
        if not sets.get(name):
            raise ValueError(f"the GPU sweep needs a non-empty {name!r} set")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    TrainConfig(cell=cells[0], epochs=epochs, loss=loss, dtype=dtype)  # validates the options
    t_start = time.perf_counter()
    flat = {name: FlatSet.from_seqs(sets[name]) for name in REQUIRED_SETS}
    rows, all_curves, timing = [], {}, {}
    for ci, cell in enumerate(cells):
        R = runs[ci]
        if R == 0:
            continue
        t0 = time.perf_counter()
        cell_seeds = (np.asarray(seeds[ci], dtype=np.int64) if seeds is not None
                      else sweep_seeds(seed, cell, R))
        if cell_seeds.shape != (R,):
            raise ValueError(f"{cell}: expected {R} seeds, got shape {cell_seeds.shape}")
        cell_lr = DEFAULT_LR[cell] if lr is None else float(lr)
        params = init_params(cell, cell_seeds, dtype)
        stream = OrderStream(cell_seeds, flat["train"].n)
        # page-locked host buffer: 2 GB per epoch at 100,000 runs x 10,000 words
        orders = stream.next(out=cuda.pinned_array((R, stream.n), dtype=stream.dtype))
        batch = ModelBatch(cell, params, dtype, cell_lr, loss, flat["train"], block,
                           adam_state, max_registers)
        t_init = time.perf_counter() - t0
        best_loss = np.full(R, np.inf)
        best_epoch = np.zeros(R, dtype=np.int64)  # 0: none yet
        best_params = params.copy()
        diverged_at = np.zeros(R, dtype=np.int64)  # 0: not diverged
        cur = {k: np.full((R, epochs), np.nan) for k in ("online", "val_loss", "val_accuracy")}
        epoch_seconds = []
        bar = tqdm(range(1, epochs + 1), desc=f"gpu {cell} x{R}", unit="epoch",
                   disable=not progress)
        for epoch in bar:
            te = time.perf_counter()
            batch.launch_epoch(orders)  # asynchronous: the next orders are drawn meanwhile
            if epoch < epochs:
                stream.next(out=orders)
            val = batch.evaluate(flat["validation"])
            online = batch.epoch_losses()
            epoch_seconds.append(time.perf_counter() - te)
            active = diverged_at == 0
            ok = np.isfinite(online) & np.isfinite(val["loss"])
            bad = active & ~ok
            cur["online"][active, epoch - 1] = online[active]
            cur["val_loss"][active, epoch - 1] = val["loss"][active]
            cur["val_accuracy"][active, epoch - 1] = val["accuracy"][active]
            if bad.any():
                diverged_at[bad] = epoch
                batch.mark_diverged(bad)
            improved = active & ok & (val["loss"] < best_loss)
            if improved.any():
                best_params[:, improved] = batch.params()[:, improved]
                best_loss[improved] = val["loss"][improved]
                best_epoch[improved] = epoch
            live = diverged_at == 0
            bar.set_postfix(diverged=int((~live).sum()),
                            median_val=f"{np.median(val['loss'][live]):.3g}" if live.any() else "-")
        t_train = time.perf_counter() - t0 - t_init
        t1 = time.perf_counter()
        vl = batch.evaluate(flat["very_long"], params=best_params)
        t_eval = time.perf_counter() - t1
        valid = best_epoch > 0
        verdict = verdicts(vl["classes"], valid)
        for r in range(R):
            v = bool(valid[r])
            rows.append({
                "run": r, "cell": cell, "seed": int(cell_seeds[r]),
                "best_epoch": int(best_epoch[r]) if v else None,
                "best_validation_loss": float(best_loss[r]) if v else None,
                "diverged": bool(diverged_at[r] > 0),
                "diverged_at_epoch": int(diverged_at[r]) if diverged_at[r] else None,
                "epochs_done": int(diverged_at[r]) if diverged_at[r] else epochs,
                "very_long_fpf": float(vl["fpf"][r]) if v else None,
                "very_long_fully_right": int(vl["fully_right"][r]) if v else None,
                "very_long_n": vl["n"],
                "verdict": verdict[r],
                **{k: (int(vl["classes"][r, i]) if v else None) for i, k in
                   enumerate(("at_zero", "early", "depth_dependent", "other"))},
            })
        all_curves[cell] = {"seeds": cell_seeds, **cur, "best_epoch": best_epoch,
                            "diverged_at": diverged_at}
        timing[cell] = {"runs": R, "init_s": t_init, "train_and_validation_s": t_train,
                        "very_long_s": t_eval, "epoch_s": epoch_seconds, "block": batch.block}
        if run_dirs is not None:
            _write_run_dirs(Path(run_dirs), cell, cell_seeds, cur, best_epoch, best_loss,
                            diverged_at, best_params, dict(lr=cell_lr, loss=loss, dtype=dtype,
                                                           epochs=epochs), seed, progress)
    timing["total_s"] = time.perf_counter() - t_start
    meta = {
        "format": "counting-rnns-gpu-sweep/1", "device": device_name(), "cells": list(cells),
        "runs": list(runs), "epochs": epochs, "seed": seed, "dtype": dtype, "loss": loss,
        "lr": {c: (DEFAULT_LR[c] if lr is None else float(lr)) for c in cells},
        "explicit_seeds": seeds is not None, "adam_state": adam_state,
        "max_registers": max_registers,
        "data": {k: {"n": f.n, "tokens": int(f.tokens.size)} for k, f in flat.items()},
        "timing": timing,
    }
    if out_csv is not None:
        write_summary(out_csv, rows)
        write_json_atomic(Path(str(out_csv) + ".meta.json"), meta)
    if curves is not None:
        with atomic_path(curves) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **{f"{c}_{k}": v for c, d in all_curves.items() for k, v in d.items()})
    return {"rows": rows, "curves": all_curves, "timing": timing, "meta": meta}


def write_summary(path, rows: list[dict]) -> None:
    """The summary CSV (SUMMARY_KEYS; empty cells for None), atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_KEYS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in SUMMARY_KEYS})
    write_text_atomic(path, buf.getvalue())


def _write_run_dirs(root: Path, cell, seeds, cur, best_epoch, best_loss, diverged_at,
                    best_params, options, sweep_seed, progress=True) -> None:
    """history.json + best.pt per run, the files `counting train` writes (no per-epoch
    checkpoints; per-epoch train/long metrics are not computed on the GPU)."""
    from counting.checkpoint import save_checkpoint
    from counting.gpu.params import vector_to_model

    for r, s in enumerate(tqdm(seeds, desc=f"run dirs {cell}", unit="run", leave=False,
                               disable=not progress)):
        config = TrainConfig(cell=cell, seed=int(s), **options)
        meta = {"sweep_seed": sweep_seed, "cell": cell, "run": r, "init_seed": int(s)}
        done = int(diverged_at[r]) or options["epochs"]
        hist = {
            "config": config_record(config), "backend": "cuda", "meta": meta,
            "epochs": [{"epoch": e + 1, "train_loss_online": float(cur["online"][r, e]),
                        "validation_loss": float(cur["val_loss"][r, e]),
                        "validation_accuracy": float(cur["val_accuracy"][r, e])}
                       for e in range(done)],
            "best_epoch": int(best_epoch[r]) or None,
            "best_validation_loss": float(best_loss[r]) if best_epoch[r] else None,
            "diverged": bool(diverged_at[r]), "diverged_at_epoch": int(diverged_at[r]) or None,
        }
        d = root / cell / f"run_{r:02d}"
        if best_epoch[r]:
            model = vector_to_model(cell, best_params[:, r], options["dtype"])
            save_checkpoint(model, d / "best.pt", {"config": config_record(config), **meta,
                                                   "epoch": int(best_epoch[r])})
        write_json_atomic(d / "history.json", hist)


def refuse_training_options(args) -> None:
    """ValueError naming the training options (`counting.training.OPTION_FIELDS`) set to
    other than their defaults: the GPU sweep does not implement them."""
    from counting.training import non_default_options

    unsupported = non_default_options(args)
    if unsupported:
        raise ValueError(f"--device cuda does not implement {', '.join(unsupported)}; "
                         "use --device cpu for these training options")


def run_cli(args, sweep=None) -> int:
    """`counting sweep --device cuda`: reads args.data, out, cells, runs, epochs, seed, dtype,
    lr, loss, hidden_size, and optionally block_size, curves, run_dirs. The training options
    (--init, --clip, --batch-size, ...; `counting.training.OPTION_FIELDS`) are not
    implemented on the GPU: any of them set to other than its default is refused. sweep: a
    function with gpu_sweep's arguments and result (None: gpu_sweep; `counting.ray_gpu`
    spreads it)."""
    from counting.datasets import load_datasets

    refuse_training_options(args)
    if getattr(args, "hidden_size", 1) != 1:
        raise ValueError(f"--device cuda supports --hidden-size 1 only, got {args.hidden_size}")
    sets = load_datasets(args.data, REQUIRED_SETS, required=REQUIRED_SETS)
    cells, runs = _normalise(args.cells, args.runs)
    out = Path(args.out)
    result = (sweep or gpu_sweep)(
        sets, cells, runs, args.epochs, args.seed, args.dtype, out / "summary.csv",
        lr=args.lr, loss=args.loss, block=getattr(args, "block_size", None),
        curves=out / "curves.npz" if getattr(args, "curves", False) else None,
        run_dirs=out if getattr(args, "run_dirs", False) else None)
    print(f"{'cell':<6}{'runs':>8}{'diverged':>10}{'median VL FPF':>15}{'all VL right':>14}")
    for cell in cells:
        mine = [r for r in result["rows"] if r["cell"] == cell]
        fpf = [r["very_long_fpf"] for r in mine if r["very_long_fpf"] is not None]
        full = sum(1 for r in mine if r["very_long_fully_right"] == r["very_long_n"])
        med = f"{np.median(fpf):.1f}" if fpf else "-"
        print(f"{cell:<6}{len(mine):>8}{sum(r['diverged'] for r in mine):>10}{med:>15}"
              f"{full:>14}")
    print(f"wrote {out / 'summary.csv'} ({result['timing']['total_s']:.1f} s on "
          f"{result['meta']['device']})")
    return 0
