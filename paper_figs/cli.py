"""`counting reproduce`: register the command (see paper_figs.reproduce)."""

from __future__ import annotations

from counting.models import MAX_HIDDEN
from counting.options import int_in, positive_int, seed_int
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce the paper: Tables 1-2, Figures 1-3, failure modes, report.md",
        description="Generate the datasets, run the sweep (10 LSTM, 30 ReLU, 10 GRU; 30 epochs), "
        "evaluate, and write table1/table2 (.csv, .md), fig1-3.png, failure_modes.csv and "
        "report.md to OUT. Resumable: run the same command again after an interruption.",
    )
    p.add_argument("--out", default="reproduction",
                   help="output directory, created if missing; an existing one is resumed "
                   "(default reproduction)")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="data and sweep seed, an integer >= 0 (default 0)")
    p.add_argument(
        "--profile",
        choices=("paper", "smoke"),
        default="paper",
        help="paper = the paper's sizes and runs; smoke = tiny sizes and few runs, same code "
        "path (default paper)",
    )
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="threads for the engine, >= 1 (default: all cores)")
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="use the five set files of DIR (train validation long very_long zigzag .txt, as "
        "`counting data` writes them, e.g. `counting data --from-authors CLONE --out DIR`) "
        "instead of generating them; --profile still sets the runs and epochs, --seed the sweep",
    )
    p.add_argument("--hidden-size", type=int_in(1, MAX_HIDDEN), default=1,
                   help=f"hidden units of every model, 1 to {MAX_HIDDEN} (default 1, the "
                   "paper's); the report compares with the paper's single-cell numbers")
    from counting.commands.train import add_protocol_options

    add_protocol_options(p)
    declare_paths(p, output_dirs=("out",), input_dirs=("data",))
    p.set_defaults(func=run)


def protocol_arg(args) -> dict:
    """The protocol switches of parsed `args` resolved (`counting.training.protocol_values`)."""
    from counting.training import protocol_values

    return protocol_values(args.protocol, args.selection, args.sessions, args.stage_epochs)


def run(args) -> int:
    from counting.jit.warmup import warm_cells, warm_engine
    from paper_figs.reproduce import reproduce

    data = getattr(args, "data", None)
    if data is not None:
        from paper_figs.data_source import given_data

        data = given_data(data)  # read and checked before any long work
    # compile before any bar starts, so that their ETAs are honest (the kernels of the size
    # the sweep trains: hidden size 1, or the H > 1 ones)
    warm_engine("sweep", hidden_size=args.hidden_size)
    warm_cells()  # the probes' traces classify the failures on the zigzag set
    from probes.worstcase.warmup import warm_verify

    warm_verify()  # the worst case of every kept and stage model
    for path in reproduce(args.out, args.profile, args.seed, args.jobs, data=data,
                          hidden_size=args.hidden_size, protocol=protocol_arg(args)):
        print(f"wrote {path}")
    return 0
