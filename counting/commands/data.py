"""`counting data`: write the paper's five datasets."""

from __future__ import annotations

from counting.datasets import PROFILES, make_datasets, write_datasets
from counting.options import seed_int
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="generate the paper's datasets",
        description="Write train.txt validation.txt long.txt very_long.txt zigzag.txt to OUT "
        "in the authors' `SEQ,LABELS` format.",
    )
    p.add_argument("--out", required=True,
                   help="output directory (created if missing; set files there are replaced)")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="data seed, an integer >= 0 (default 0)")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="paper",
        help="paper = the paper's sizes; smoke = tiny sizes for tests (default paper)",
    )
    declare_paths(p, output_dirs=("out",))
    p.set_defaults(func=run)


def run(args) -> int:
    sets = make_datasets(args.profile, args.seed)
    for path in write_datasets(args.out, sets):
        print(f"wrote {path} ({len(sets[path.stem])} sequences)")
    return 0
