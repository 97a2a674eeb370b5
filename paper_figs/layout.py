"""The layout of a reproduction's results directory, shared by `counting reproduce` and the
table/figure modules (each of which reads only these files):

    DIR/data/*.txt                 the five datasets
    DIR/sweep/...                  the training runs (counting sweep's layout)
    DIR/results/selection.json     {"cells": {cell: [{"run", "seed", "run_dir", "best_epoch",
                                    "best_validation_loss"}, ...kept runs]}, "profile", "seed"}
    DIR/results/best_models.csv    one row per kept run x set: the best-by-validation model
    DIR/results/stage_models.csv   one row per kept run x checkpoint epoch (the 60 models)
    DIR/results/zigzag.csv         FPF of each of the 60 models on each zigzag sequence
    DIR/results/failures.csv       first-failure class of each failing (model, zigzag sequence)
    DIR/results/worst_case.csv     probes.verify at N = 1000 of each kept run's best model
                                   (kind "best") and each stage model (kind "stage")
    DIR/results/histories.json     {cell: {run: [validation loss per epoch]}} of kept runs
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from counting.fileformat import write_text_atomic

BEST_COLUMNS = (
    "cell",
    "run",
    "seed",
    "epoch",
    "set",
    "n",
    "accuracy",
    "fpf",
    "fully_right",
    "loss",
)
STAGE_COLUMNS = (
    "cell",
    "run",
    "seed",
    "epoch",
    "train_loss",
    "validation_loss",
    "long_loss",
    "train_loss_online",
    "very_long_fpf",
    "very_long_fully_right",
)
ZIGZAG_COLUMNS = ("cell", "run", "epoch", "j", "length", "fpf")
FAILURE_COLUMNS = ("cell", "run", "epoch", "sequence", "j", "position", "depth", "peak", "class")
WORST_CASE_COLUMNS = (
    "cell",
    "run",
    "epoch",
    "kind",
    "very_long_fpf",
    "certified_length",
    "shortest_failure_length",
    "shortest_failure",
    "position",
    "class",
    "method",
    "exact",
    "max_length",
)


def results_dir(root: str | Path) -> Path:
    return Path(root) / "results"


def write_csv(path: str | Path, columns, rows) -> None:
    """Write dict rows atomically with the given column order."""
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(_fmt(r[c]) for c in columns))
    write_text_atomic(path, "\n".join(lines) + "\n")


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    if "," in s or '"' in s:
        s = '"' + s.replace('"', '""') + '"'
    return s


def read_csv(path: str | Path) -> list[dict]:
    """Rows as dicts; numbers parsed as int or float where they look like one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing - run `counting reproduce --out {path.parent.parent}` first"
        )
    with path.open(newline="") as fh:
        return [{k: parse_value(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def parse_value(v: str):
    """A CSV field -> int, float, None (empty) or the string itself."""
    if v == "":
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def read_json(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing - run `counting reproduce --out {path.parent.parent}` first"
        )
    return json.loads(path.read_text())


def run_module(make, argv=None, doc: str = "") -> int:
    """`python -m paper_figs.X DIR`: run `make(DIR)` and print what it wrote."""
    import argparse

    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("dir", metavar="DIR", help="a directory written by `counting reproduce`")
    args = parser.parse_args(argv)
    try:
        for path in make(args.dir):
            print(f"wrote {path}")
    except FileNotFoundError as err:
        print(f"error: {err}")
        return 2
    return 0


def savefig_atomic(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    from counting.fileformat import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return Path(path)
