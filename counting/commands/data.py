"""`counting data`: write the paper's five datasets."""

from __future__ import annotations

from counting.datasets import PROFILES, make_datasets, write_datasets


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="generate the paper's datasets",
        description="Write train.txt validation.txt long.txt very_long.txt zigzag.txt to OUT "
        "in the authors' `SEQ,LABELS` format.",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="paper",
        help="paper = the paper's sizes; smoke = tiny sizes for tests (default paper)",
    )
    p.add_argument(
        "--from-authors",
        metavar="CLONE",
        default=None,
        help="instead of generating, assemble the paper's split from a local clone of the "
        "authors' repository (nadineelnaggar/Plain-RNN-Counter-Experiments) and write it with "
        "provenance.json; --seed and --profile are then not used",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "from_authors", None) is not None:
        from counting.authors import authors_split, write_split

        sets, provenance = authors_split(args.from_authors)
        for path in write_split(args.out, sets, provenance):
            n = f" ({len(sets[path.stem])} sequences)" if path.stem in sets else ""
            print(f"wrote {path}{n}")
        return 0
    sets = make_datasets(args.profile, args.seed)
    for path in write_datasets(args.out, sets):
        print(f"wrote {path} ({len(sets[path.stem])} sequences)")
    return 0
