"""What fixes counting? The paper's future-work remedies as one study.

    counting remedies --out DIR [--runs 20] [--seed S] [--jobs N]
                      [--epochs 30] [--profile paper|smoke] [--max-length 1000]
    (alias: python -m paper_figs.remedies ..., the same options and contract)

For every named remedy (`REMEDIES`) and every cell it applies to, train `runs` runs on the
paper's data with the sweep options of `counting sweep` (`counting.sweep.run_sweep`, seeds
as there, so the baseline is the paper protocol), then score each run's best-by-validation
model on the very-long set (FPF, fully right) and in the worst case (`probes.verify` at
N = max_length: the shortest Dyck word it gets wrong, or none up to N). The remedy "repair"
applies `constructions.repair` to the baseline's best models (no training). Every remedy is
scored on the same very-long set (the paper data's), the remedy "train lengths 2-100"
trains and selects on its own data (lengths 2-100, long set 102-200).

Layout of DIR (resumable: run the same command again after an interruption):
    data/, data_2-100/           the datasets (`counting data`; --train-lengths 2-100)
    sweeps/<remedy>/             one sweep per remedy (`counting sweep`'s layout)
    results/<remedy>.json        per-run scores of a finished remedy
    remedies.csv, remedies.md, remedies.png   (paper_figs.remedies_report)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from counting.datasets import SET_NAMES, load_datasets, make_datasets, write_datasets
from counting.fileformat import write_json_atomic
from counting.models import CELLS
from counting.options import OneLineParser, int_in, positive_int, seed_int
from counting.paths import declare_paths

DEFAULT_RUNS = 20
TRAIN_LENGTHS = (2, 100)


@dataclass(frozen=True)
class Remedy:
    """A named remedy: sweep options, the cells it applies to, and its data."""

    name: str
    options: dict = field(default_factory=dict)
    cells: tuple[str, ...] = CELLS
    data: str = "data"  # the data directory under DIR
    repair: bool = False  # no training: repair the baseline's best models


REMEDIES = (
    Remedy("baseline"),
    Remedy("clip 1", {"clip": 1.0}),
    Remedy("irnn", {"init": "irnn"}, ("relu",)),
    Remedy("forget-bias 5", {"forget_bias": 5.0}, ("lstm",)),
    Remedy("construction init, noise 0.1", {"init": "construction", "init_noise": 0.1},
           ("lstm", "relu")),
    Remedy("batch 32", {"batch_size": 32}),
    Remedy("weight decay 1e-4", {"weight_decay": 1e-4}),
    Remedy("L1 1e-4", {"l1": 1e-4}),
    Remedy("train lengths 2-100", {}, CELLS, f"data_{TRAIN_LENGTHS[0]}-{TRAIN_LENGTHS[1]}"),
    Remedy("repair", {}, ("lstm", "relu"), repair=True),
)


def slug(name: str) -> str:
    """A remedy's directory name, e.g. 'clip 1' -> 'clip-1'."""
    out = "".join(ch if ch.isalnum() or ch == "." else "-" for ch in name.lower())
    return "-".join(part for part in out.split("-") if part)


def _data(root: Path, name: str, profile: str, seed: int, progress: bool) -> dict:
    """The five sets under root/name, generated once (stamped with profile/seed/lengths)."""
    from counting.datasets import provenance

    lengths = TRAIN_LENGTHS if name != "data" else None
    want = provenance(profile, seed, lengths)
    path = root / name
    stamp = path / "dataset.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return load_datasets(path, SET_NAMES, required=SET_NAMES)
    sets = make_datasets(profile, seed, progress=progress, train_lengths=lengths)
    write_datasets(path, sets)
    write_json_atomic(stamp, want)
    return sets


def score(model, very_long: list[str], max_length: int) -> dict:
    """A model's very-long FPF / fully right and its worst case (`probes.verify`)."""
    from counting.engine import evaluate_many
    from probes import verify

    m = evaluate_many([model], very_long)[0]
    v = verify(model, max_length=max_length)
    f = v["shortest_failure"]
    return {"very_long_fpf": m["fpf"], "very_long_all_right": m["fully_right"] == m["n"],
            "shortest_failure": None if f is None else f["length"],
            "certified_length": v["certified_length"], "verify_method": v["method"]}


def _trained(remedy: Remedy, root: Path, sets: dict, runs: int, epochs: int, seed: int,
             jobs, max_length: int, very_long: list[str], progress: bool) -> list[dict]:
    from counting.checkpoint import load_checkpoint
    from counting.sweep import run_sweep

    rows = run_sweep(sets, root / "sweeps" / slug(remedy.name), cells=remedy.cells,
                     runs=runs, epochs=epochs, seed=seed, jobs=jobs, progress=progress,
                     **remedy.options)
    out = []
    for r in tqdm(rows, desc=f"score {remedy.name}", unit="run", disable=not progress):
        rec = {"cell": r["cell"], "run": r["run"], "seed": r["seed"],
               "diverged": bool(r["diverged"]), "refused": None}
        best = Path(r["dir"]) / "best.pt"
        if best.is_file():
            rec.update(score(load_checkpoint(best)[0], very_long, max_length))
        out.append(rec)
    return out


def _repaired(root: Path, baseline: list[dict], max_length: int, very_long: list[str],
              progress: bool) -> list[dict]:
    from constructions.repair import RepairRefused, repair
    from counting.checkpoint import load_checkpoint, save_checkpoint
    from counting.sweep import run_dir

    out = []
    todo = [b for b in baseline if b["cell"] in ("lstm", "relu")]
    for b in tqdm(todo, desc="score repair", unit="run", disable=not progress):
        rec = {"cell": b["cell"], "run": b["run"], "seed": b["seed"], "diverged": False,
               "refused": None}
        best = run_dir(root / "sweeps" / slug("baseline"), b["cell"], b["run"]) / "best.pt"
        if best.is_file():
            try:
                fixed = repair(load_checkpoint(best)[0])
            except RepairRefused as err:
                rec["refused"] = str(err)
            else:
                path = root / "sweeps" / slug("repair") / b["cell"] / f"run_{b['run']:02d}.pt"
                save_checkpoint(fixed.model, path, {"repaired_from": str(best)})
                rec.update(score(fixed.model, very_long, max_length))
                rec["l2_change"] = fixed.summary()["l2_change"]
        out.append(rec)
    return out


def run_study(out, runs: int = DEFAULT_RUNS, seed: int = 0, jobs=None, epochs: int = 30,
              profile: str = "paper", max_length: int = 1000, progress: bool = True,
              remedies=REMEDIES) -> list[Path]:
    """Train and score every remedy (resumable); write the csv, md and png. -> files."""
    from paper_figs import remedies_report

    root = Path(out)
    data = {"data": _data(root, "data", profile, seed, progress)}
    very_long = data["data"]["very_long"]
    results = {}
    for remedy in remedies:
        path = root / "results" / f"{slug(remedy.name)}.json"
        if path.is_file():
            results[remedy.name] = json.loads(path.read_text())
            continue
        if remedy.repair:
            recs = _repaired(root, results["baseline"], max_length, very_long, progress)
        else:
            if remedy.data not in data:
                data[remedy.data] = _data(root, remedy.data, profile, seed, progress)
            recs = _trained(remedy, root, data[remedy.data], runs, epochs, seed, jobs,
                            max_length, very_long, progress)
        write_json_atomic(path, recs)
        results[remedy.name] = recs
    meta = {"runs": runs, "seed": seed, "epochs": epochs, "profile": profile,
            "max_length": max_length,
            "remedies": [{"name": r.name, "options": r.options, "cells": list(r.cells),
                          "data": r.data, "repair": r.repair} for r in remedies]}
    return remedies_report.make(root, results, meta)


PROG = "python -m paper_figs.remedies"
DESCRIPTION = ("Train and score the paper's remedies (clipping, IRNN, forget bias, "
               "construction init, batches, weight decay, L1, longer training words, weight "
               "repair) in the worst case.")


def add_arguments(p) -> None:
    """The study's options (the same for `counting remedies` and `python -m
    paper_figs.remedies`); sets `func`."""
    p.add_argument("--out", required=True,
                   help="study directory, created if missing; an existing one is resumed")
    p.add_argument("--runs", type=positive_int, default=DEFAULT_RUNS,
                   help=f"runs per cell and remedy, >= 1 (default {DEFAULT_RUNS})")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="data and sweep seed, an integer from 0 to 2^64 - 1 (default 0)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="threads for the engine, >= 1 (default: all cores)")
    p.add_argument("--epochs", type=positive_int, default=30,
                   help="epochs per run, >= 1 (default 30)")
    p.add_argument("--profile", choices=("paper", "smoke"), default="paper",
                   help="data sizes: paper (default) or smoke (tiny, for tests)")
    p.add_argument("--max-length", type=int_in(2, 100_000), default=1000,
                   help="verify every Dyck word up to this length, 2 to 100000 (default 1000)")
    declare_paths(p, output_dirs=("out",))
    p.set_defaults(func=run)


def register(sub) -> None:
    """`counting remedies`."""
    p = sub.add_parser("remedies", help="train the paper's remedies and score them in the "
                       "worst case", description=DESCRIPTION)
    add_arguments(p)


def build_parser() -> OneLineParser:
    """The parser of `python -m paper_figs.remedies` (the alias of `counting remedies`)."""
    p = OneLineParser(prog=PROG, description=DESCRIPTION)
    add_arguments(p)
    return p


def run(args) -> int:
    """Compile the kernels, then run the study and print the files written."""
    from counting.jit.warmup import warm_cells, warm_engine
    from probes.worstcase.warmup import warm_verify

    warm_engine("sweep")  # compile before any bar starts, so that their ETAs are honest
    warm_cells()
    warm_verify()
    for path in run_study(args.out, args.runs, args.seed, args.jobs, args.epochs,
                          args.profile, args.max_length):
        print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """`python -m paper_figs.remedies`, the alias of `counting remedies`: bad input -> one
    line `python -m paper_figs.remedies: error: ...`, exit 2, before any work
    (`counting.contract.run`)."""
    from counting.contract import run as run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
