"""`counting sweep`: the paper protocol - many runs per cell, resumable."""

from __future__ import annotations

import contextlib

from counting.commands.train import add_training_options, option_values, protocol_config
from counting.models import CELLS
from counting.options import choice_list, int_in, int_list, positive_int, seed_int
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="train many runs per cell (the paper protocol), resumable",
        description="Train RUNS runs of each cell, each with its own init seed derived from "
        "--seed, writing OUT/<cell>/run_<NN>/ as `counting train` does plus OUT/summary.csv "
        "and summary.json. Run the same command again to finish an interrupted sweep.",
    )
    p.add_argument("--out", required=True,
                   help="sweep directory to write (an existing one is resumed)")
    p.add_argument("--cells", type=choice_list(CELLS, "cell"), default=CELLS,
                   help="comma list of cells among lstm, relu, gru (default lstm,relu,gru)")
    p.add_argument("--runs", type=int_list(positive_int, "run count"), default=(10, 30, 10),
                   help="runs per cell, each >= 1: one count per cell or one for all "
                   "(default 10,30,10)")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="sweep seed, an integer >= 0; run r of cell c gets the init seed "
                   "counting.sweep.run_seed(seed, c, r) (default 0)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="threads for the fast engine, >= 1 (default: all cores)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu = the numba engine (default); cuda = counting.gpu's sweep on a "
                   "CUDA GPU, for thousands of seeds: it writes a compact OUT/summary.csv "
                   "(seed, best epoch, very-long FPF, failure verdict) and needs a "
                   "very_long.txt in DATA")
    gpu = p.add_argument_group("--device cuda only")
    gpu.add_argument("--block-size", type=int_in(1, 1024), default=None,
                     help="CUDA threads per block, 1 to 1024 (default: chosen from the number "
                     "of runs)")
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
    declare_paths(p, output_dirs=("out",))
    p.set_defaults(func=run)


def _counts(cells: tuple[str, ...], runs: tuple[int, ...]) -> tuple[int, ...]:
    if len(runs) == 1:
        runs = runs * len(cells)
    if len(runs) != len(cells):
        raise ValueError(f"--runs gives {len(runs)} counts for {len(cells)} cells")
    return runs


def _require_gpu() -> None:
    """A one-line error when the GPU path cannot run here."""
    from counting.gpu.device import availability

    try:
        ok, why = availability()
    except Exception as err:  # noqa: BLE001 - any failure to reach CUDA is the same answer
        ok, why = False, f"{type(err).__name__}: {err}"
    if not ok:
        from counting.contract import UserError

        raise UserError(f"--device cuda: no usable GPU here ({why}); use --device cpu")


def _nondefault(protocol: dict) -> dict:
    """The protocol switches that differ from the paper's (so that a paper-protocol sweep's
    manifest and files are what they were before the switches existed)."""
    from counting.training import TrainConfig

    default = TrainConfig()
    return {k: v for k, v in protocol.items() if v != getattr(default, k)}


def _refuse_protocol(args) -> None:
    """The GPU sweep implements the paper protocol only."""
    given = _nondefault(protocol_config(args))
    if given:
        flags = ", ".join("--stage-epochs" if k == "checkpoint_epochs" else "--" + k
                          for k in given)
        raise ValueError(f"--device cuda does not implement {flags} (the authors' protocol); "
                         "use --device cpu")


def run(args) -> int:
    cells = tuple(args.cells)
    runs = _counts(cells, tuple(args.runs))
    if args.ray is not None:
        from counting.ray_executor import import_ray

        import_ray()  # a one-line error with the install command, before any work
    if args.device == "cuda":
        from counting.gpu.sweep import refuse_training_options

        refuse_training_options(args)
        _refuse_protocol(args)  # before probing the GPU: a deterministic answer first
        _require_gpu()
        if args.ray is not None:
            from counting.ray_gpu import run_cli
        else:
            from counting.gpu.sweep import run_cli

        return run_cli(args)
    from counting.datasets import load_datasets
    from counting.engine import supports
    from counting.jit.warmup import warm_engine
    from counting.sweep import run_sweep
    from counting.training import EVAL_SETS, TrainConfig

    protocol = protocol_config(args)
    for cell in cells:  # a training option that does not apply to a cell: refused first
        TrainConfig(cell=cell, epochs=args.epochs, lr=args.lr, loss=args.loss, dtype=args.dtype,
                    hidden_size=args.hidden_size, **option_values(args), **protocol)
    sets = load_datasets(args.data, EVAL_SETS, required=("train", "validation"))  # bad data first
    if supports(cells[0], args.hidden_size, args.dtype) is None:
        # compile before the bar starts: an honest ETA
        warm_engine("sweep", args.loss, cells=cells, hidden_size=args.hidden_size)
    executor = None
    if args.ray is not None:
        from counting.ray_executor import RayExecutor

        executor = RayExecutor(args.ray, cpus=args.jobs)
    with executor or contextlib.nullcontext():
        rows = run_sweep(sets, args.out, cells=cells, runs=runs, epochs=args.epochs,
                         seed=args.seed, jobs=args.jobs, lr=args.lr, loss=args.loss,
                         dtype=args.dtype, hidden_size=args.hidden_size, executor=executor,
                         **option_values(args), **_nondefault(protocol))
    print(f"{'cell':<6}{'runs':>6}{'diverged':>10}{'median best val loss':>22}")
    for cell in cells:
        mine = [r for r in rows if r["cell"] == cell]
        # the true mean (under --selection authors best_validation_loss is the logged loss)
        vals = sorted(r.get("best_validation_loss_mean", r["best_validation_loss"])
                      for r in mine if r["best_validation_loss"] is not None)
        med = f"{vals[len(vals) // 2]:.4g}" if vals else "-"
        print(f"{cell:<6}{len(mine):>6}{sum(r['diverged'] for r in mine):>10}{med:>22}")
    print(f"wrote {args.out}/summary.csv")
    return 0
