"""`counting sweep`: the paper protocol - many runs per cell, resumable."""

from __future__ import annotations

import contextlib

from counting.commands.train import add_training_options
from counting.models import CELLS


def _cells(text: str) -> tuple[str, ...]:
    cells = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in cells if c not in CELLS]
    if bad or not cells:
        raise ValueError(f"--cells: expected a comma list of {', '.join(CELLS)}, got {text!r}")
    return cells


def _runs(text: str) -> tuple[int, ...]:
    try:
        runs = tuple(int(r) for r in text.split(","))
    except ValueError:
        raise ValueError(f"--runs: expected comma-separated integers, got {text!r}") from None
    if any(r < 0 for r in runs):
        raise ValueError(f"--runs: counts must be >= 0, got {text!r}")
    return runs


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="train many runs per cell (the paper protocol), resumable",
        description="Train RUNS runs of each cell, each with its own init seed derived from "
        "--seed, writing OUT/<cell>/run_<NN>/ as `counting train` does plus OUT/summary.csv "
        "and summary.json. Run the same command again to finish an interrupted sweep.",
    )
    p.add_argument("--out", required=True, help="sweep directory to write")
    p.add_argument("--cells", default="lstm,relu,gru", help="cells (default lstm,relu,gru)")
    p.add_argument("--runs", default="10,30,10",
                   help="runs per cell, one count per cell or one for all (default 10,30,10)")
    p.add_argument("--seed", type=int, default=0, help="sweep seed (default 0)")
    p.add_argument("--jobs", type=int, default=None,
                   help="threads for the fast engine (default: all cores)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu = the numba engine (default); cuda = counting.gpu's sweep, "
                   "which writes its own summary (see its documentation)")
    gpu = p.add_argument_group("--device cuda only")
    gpu.add_argument("--block-size", type=int, default=None,
                     help="CUDA threads per block (default: chosen from the number of runs)")
    gpu.add_argument("--curves", action="store_true",
                     help="also write OUT/curves.npz (validation loss of every run and epoch)")
    gpu.add_argument("--run-dirs", action="store_true",
                     help="also write OUT/<cell>/run_NN/{history.json,best.pt} for every run")
    add_training_options(p)
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="train the runs as Ray tasks: without ADDRESS on the cluster in "
                   "RAY_ADDRESS if set, else on a new local Ray instance with --jobs CPUs; "
                   "with ADDRESS (HOST:PORT or auto) on that cluster. Needs "
                   "pip install -e '.[ray]'")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.device == "cuda" and args.ray is not None:
        from counting.ray_gpu import run_cli

        return run_cli(args)
    if args.device == "cuda":
        from counting.gpu.sweep import run_cli

        return run_cli(args)
    from counting.sweep import run_sweep

    cells = _cells(args.cells)
    runs = _runs(args.runs)
    if len(runs) == 1:
        runs = runs * len(cells)
    if len(runs) != len(cells):
        raise ValueError(f"--runs gives {len(runs)} counts for {len(cells)} cells")
    executor = None
    if args.ray is not None:
        from counting.ray_executor import RayExecutor

        executor = RayExecutor(args.ray, cpus=args.jobs)
    with executor or contextlib.nullcontext():
        rows = run_sweep(args.data, args.out, cells=cells, runs=runs, epochs=args.epochs,
                         seed=args.seed, jobs=args.jobs, lr=args.lr, loss=args.loss,
                         dtype=args.dtype, hidden_size=args.hidden_size, executor=executor)
    print(f"{'cell':<6}{'runs':>6}{'diverged':>10}{'median best val loss':>22}")
    for cell in cells:
        mine = [r for r in rows if r["cell"] == cell]
        vals = sorted(r["best_validation_loss"] for r in mine
                      if r["best_validation_loss"] is not None)
        med = f"{vals[len(vals) // 2]:.4g}" if vals else "-"
        print(f"{cell:<6}{len(mine):>6}{sum(r['diverged'] for r in mine):>10}{med:>22}")
    print(f"wrote {args.out}/summary.csv")
    return 0
