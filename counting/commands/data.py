"""`counting data`: write the paper's five datasets."""

from __future__ import annotations

from pathlib import Path

from counting.datasets import PROFILES, make_datasets, provenance, write_datasets
from counting.fileformat import write_json_atomic
from counting.options import length_range, seed_int
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
    p.add_argument("--train-lengths", type=length_range, default=None, metavar="A-B",
                   help="training and validation word lengths A-B, 2 <= A <= B (default "
                   "2-50); the long set becomes (B+2)-2B. OUT/dataset.json records the profile, "
                   "seed and lengths")
    p.add_argument(
        "--from-authors",
        metavar="CLONE",
        default=None,
        help="instead of generating, assemble the paper's split from a local clone of the "
        "authors' repository (nadineelnaggar/Plain-RNN-Counter-Experiments) and write it with "
        "provenance.json; --seed and --profile are then not used",
    )
    declare_paths(p, output_dirs=("out",))
    p.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "from_authors", None) is not None:
        if getattr(args, "train_lengths", None) is not None:
            raise ValueError("--train-lengths does not apply to --from-authors (the authors' "
                             "split has its own lengths)")
        from counting.authors import authors_split, write_split

        sets, source = authors_split(args.from_authors)
        for path in write_split(args.out, sets, source):
            n = f" ({len(sets[path.stem])} sequences)" if path.stem in sets else ""
            print(f"wrote {path}{n}")
        return 0
    train_lengths = getattr(args, "train_lengths", None)
    stamp = provenance(args.profile, args.seed, train_lengths)
    sets = make_datasets(args.profile, args.seed, train_lengths=train_lengths)
    for path in write_datasets(args.out, sets):
        print(f"wrote {path} ({len(sets[path.stem])} sequences)")
    path = Path(args.out) / "dataset.json"
    write_json_atomic(path, stamp)
    print(f"wrote {path} (profile {stamp['profile']}, seed {stamp['seed']}, train lengths "
          f"{'-'.join(map(str, stamp['train_lengths']))})")
    return 0
