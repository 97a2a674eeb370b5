"""`counting robustness`: register the command (see paper_figs.robustness)."""

from __future__ import annotations

import contextlib

from counting.options import positive_int, seed_range
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "robustness",
        help="reproduce the paper once per seed and say which claims hold across seeds",
        description="Run `counting reproduce` for every seed A..B-1 into OUT/seed_<s>/ (the "
        "seeds' sweeps train as one grid, on Ray with --ray), then write OUT/robustness.csv "
        "(one row per claim of report.md: share of seeds that agree, median and 5th-95th "
        "percentiles over seeds, the paper value's percentile), robustness.md and "
        "robustness.png. Resumable: a seed with a report.md is complete and kept, so OUT may "
        "hold reproductions run one by one with `counting reproduce --seed s --out "
        "OUT/seed_<s>`.",
    )
    p.add_argument(
        "--seeds",
        required=True,
        type=seed_range,
        metavar="A:B",
        help="the seeds A, A+1, ..., B-1: integers with 0 <= A < B",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output directory, created if missing; an existing one is resumed",
    )
    p.add_argument(
        "--profile",
        choices=("paper", "smoke"),
        default="paper",
        help="paper = the paper's sizes and runs; smoke = tiny sizes and few runs, "
        "same code path (default paper)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="threads for the engine, >= 1 (default: all cores); with --ray and no "
        "cluster address, the CPUs of the local Ray instance",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="train the seeds' sweeps as Ray tasks: without ADDRESS on the cluster "
        "in RAY_ADDRESS if set, else on a new local Ray instance with --jobs CPUs; "
        "with ADDRESS (HOST:PORT or auto) on that cluster. Needs "
        "pip install -e '.[ray]'",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="use the five set files of DIR for every seed (as `counting reproduce "
        "--data`, e.g. the authors' split from `counting data --from-authors`) "
        "instead of generating each seed's own sets",
    )
    from counting.commands.train import add_protocol_options

    add_protocol_options(p)
    declare_paths(p, output_dirs=("out",), input_dirs=("data",))
    p.set_defaults(func=run)


def run(args) -> int:
    from paper_figs.cli import protocol_arg
    from paper_figs.robustness import check_complete, is_complete, robustness

    protocol = protocol_arg(args)

    if args.ray is not None:
        from counting.ray_executor import import_ray

        import_ray()  # a one-line error with the install command, before any work
    data = None
    if args.data is not None:
        from paper_figs.data_source import given_data

        data = given_data(args.data)  # read and checked before any long work
    todo = [s for s in args.seeds if not is_complete(args.out, s)]
    pending = set(todo)
    sha = data.record()["sha256"] if data is not None else None
    for s in args.seeds:  # a finished seed of another profile or data: refused first
        if s not in pending:
            check_complete(args.out, s, args.profile, sha, protocol)
    executor = None
    if todo:
        from counting.jit.warmup import warm_cells, warm_engine

        warm_engine("sweep")  # compile before any bar starts, so that their ETAs are honest
        warm_cells()  # the probes' traces classify the failures on the zigzag set
        from probes.worstcase.warmup import warm_verify

        warm_verify()  # each seed's worst-case stage
        if args.ray is not None:
            from counting.ray_executor import RayExecutor

            executor = RayExecutor(args.ray, cpus=args.jobs)
            executor.connect()  # a bad address or option: refused before the seeds' data
    print(
        f"{len(args.seeds) - len(todo)} of {len(args.seeds)} seeds complete; "
        f"reproducing {len(todo)}"
    )
    with executor or contextlib.nullcontext():
        for path in robustness(
            args.out, args.seeds, args.profile, args.jobs, data=data, executor=executor,
            protocol=protocol,
        ):
            print(f"wrote {path}")
    return 0
