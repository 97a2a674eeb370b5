"""Does capacity buy long-range counting? The paper protocol at several hidden sizes.

    counting capacity --out DIR [--hidden 1,2,4,8] [--runs 10] [--seed S] [--jobs N]
    (alias: python -m paper_figs.capacity ..., the same options and contract)

For every hidden size H and every cell, train `runs` runs with the paper's protocol (30
epochs, online Adam, the paper's learning rates; `counting.sweep.run_sweep` with
hidden_size=H, so the seeds are `counting sweep`'s and H = 1 repeats `counting sweep
--runs R` bit for bit) on the paper data generated for the seed (train / validation to
select the best epoch, long, very long), and score each run's best-by-validation model:

- very-long FPF (mean first point of failure over the very-long words) and its share of
  very-long words fully right (fully right words / words);
- long-set accuracy (% of long words right at every token);
- the worst case (`probes.verify` at N = max_length, default 1000): the length of the
  shortest failing Dyck word found and the certified length. For H = 1 verify is exact (the
  found word IS the shortest); for H > 1 it is a sound bound (method "bound"): every word
  of length <= certified_length is right and the found word fails, so the shortest failing
  length lies in [certified_length + 2, found];
- the linear depth probe's R^2 (`probes.depth_probe` on DIR/data's zigzag and very-long
  words plus the nested probe words): how much of the depth is linear in the counter state.

Every run of a cell is scored (no best-10-of-30 selection, unlike `counting reproduce`'s
ReLU). The table and its paragraph are `paper_figs.capacity_report`.

Layout of DIR (resumable: run the same command again after an interruption; the sweeps
resume per epoch, a hidden size whose scores are saved is not scored again):
    data/                    the five sets (`counting data --seed S`)
    sweeps/h<H>/             one sweep per hidden size (`counting sweep`'s layout)
    results/h<H>.json        {"seconds": {"train", "score"}, "runs": [per-run scores]}
    capacity.csv, capacity.md, capacity.png, capacity.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from counting.datasets import SET_NAMES, load_datasets, make_datasets, provenance, write_datasets
from counting.fileformat import write_json_atomic
from counting.models import CELLS, MAX_HIDDEN
from counting.options import OneLineParser, int_in, int_list, positive_int, seed_int
from counting.paths import declare_paths

DEFAULT_HIDDEN = (1, 2, 4, 8)
DEFAULT_RUNS = 10
PROG = "python -m paper_figs.capacity"


def _data(root: Path, profile: str, seed: int, progress: bool) -> dict:
    """The five sets under root/data, generated once (stamped with profile and seed)."""
    want = provenance(profile, seed)
    path = root / "data"
    stamp = path / "dataset.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return load_datasets(path, SET_NAMES, required=SET_NAMES)
    sets = make_datasets(profile, seed, progress=progress)
    write_datasets(path, sets)
    write_json_atomic(stamp, want)
    return sets


def _probe_sets(sets: dict) -> dict:
    """The depth probe's words: the data's zigzag and very-long sets, and the nested words."""
    from probes import default_probe_sets

    return {
        "zigzag": sets["zigzag"],
        "very_long": sets["very_long"],
        "nested": default_probe_sets()["nested"],
    }


def score_models(
    models: list, sets: dict, max_length: int, progress: bool = False, desc: str = "score"
) -> list[dict]:
    """Each model's scores (see the module docstring) -> [{"very_long_fpf",
    "very_long_share_right", "long_accuracy", "shortest_failure" (a length, or None when no
    failing word up to max_length was found), "certified_length", "verify_method",
    "depth_probe_r2" (None when the probe is undefined)}]."""
    from counting.engine import evaluate_many
    from probes import depth_probe, verify

    if not models:
        return []
    very_long = evaluate_many(models, sets["very_long"])
    long = evaluate_many(models, sets["long"])
    probe_sets = _probe_sets(sets)
    out = []
    for i, m in enumerate(tqdm(models, desc=desc, unit="model", disable=not progress)):
        v = verify(m, max_length=max_length)
        failure = v["shortest_failure"]
        dp = depth_probe(m, probe_sets)
        out.append(
            {
                "very_long_fpf": very_long[i]["fpf"],
                "very_long_share_right": very_long[i]["fully_right"] / very_long[i]["n"],
                "long_accuracy": long[i]["accuracy"],
                "shortest_failure": None if failure is None else failure["length"],
                "certified_length": v["certified_length"],
                "verify_method": v["method"],
                "depth_probe_r2": float(dp.r2) if dp.defined else None,
            }
        )
    return out


def _hidden_size(
    root: Path,
    h: int,
    sets: dict,
    runs: int,
    epochs: int,
    seed: int,
    jobs,
    max_length: int,
    progress: bool,
) -> dict:
    """Train (resumably) and score every run of hidden size h -> results/h<h>.json's dict."""
    from counting.checkpoint import load_checkpoint
    from counting.sweep import run_sweep

    t0 = time.perf_counter()
    rows = run_sweep(
        sets,
        root / "sweeps" / f"h{h}",
        cells=CELLS,
        runs=runs,
        epochs=epochs,
        seed=seed,
        jobs=jobs,
        progress=progress,
        hidden_size=h,
    )
    t1 = time.perf_counter()
    recs, models, where = [], [], []
    for r in rows:
        recs.append(
            {
                "cell": r["cell"],
                "hidden_size": h,
                "run": r["run"],
                "seed": r["seed"],
                "diverged": bool(r["diverged"]),
            }
        )
        best = Path(r["dir"]) / "best.pt"
        if best.is_file():  # a run that diverged in its first epoch has no model
            models.append(load_checkpoint(best)[0])
            where.append(len(recs) - 1)
    for i, s in zip(
        where, score_models(models, sets, max_length, progress, f"score H={h}"), strict=True
    ):
        recs[i].update(s)
    return {"seconds": {"train": t1 - t0, "score": time.perf_counter() - t1}, "runs": recs}


def run_study(
    out,
    hidden=DEFAULT_HIDDEN,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    jobs=None,
    epochs: int = 30,
    profile: str = "paper",
    max_length: int = 1000,
    progress: bool = True,
) -> list[Path]:
    """Train and score every hidden size (resumable); write capacity.csv / .md / .png /
    .json. -> the files written. hidden: distinct hidden sizes, 1 to MAX_HIDDEN."""
    from paper_figs import capacity_report

    hidden = tuple(hidden)
    if (
        not hidden
        or len(set(hidden)) != len(hidden)
        or any(not isinstance(h, int) or not 1 <= h <= MAX_HIDDEN for h in hidden)
    ):
        raise ValueError(
            f"hidden must be distinct integers from 1 to {MAX_HIDDEN}, got {list(hidden)}"
        )
    if not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    hidden = tuple(sorted(hidden))
    root = Path(out)
    sets = _data(root, profile, seed, progress)
    results = {}
    for h in hidden:
        path = root / "results" / f"h{h}.json"
        key = {
            "runs": runs,
            "epochs": epochs,
            "seed": seed,
            "profile": profile,
            "max_length": max_length,
        }
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                results[h] = saved
                continue
        results[h] = {
            "key": key,
            **_hidden_size(root, h, sets, runs, epochs, seed, jobs, max_length, progress),
        }
        write_json_atomic(path, results[h])
    meta = {
        "hidden": list(hidden),
        "runs": runs,
        "seed": seed,
        "epochs": epochs,
        "profile": profile,
        "max_length": max_length,
    }
    return capacity_report.make(root, results, meta)


def hidden_list(text: str) -> tuple[int, ...]:
    """--hidden: a comma list of distinct hidden sizes, each 1 to MAX_HIDDEN."""
    sizes = int_list(int_in(1, MAX_HIDDEN), "hidden size")(text)
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be distinct, got {text!r}")
    return sizes


DESCRIPTION = (
    "Train the paper protocol at several hidden sizes for each cell and ask whether more "
    "units buy long-range counting: writes capacity.csv, capacity.md and capacity.png to OUT."
)


def add_arguments(p) -> None:
    """The study's options (the same for `counting capacity` and `python -m
    paper_figs.capacity`); sets `func`."""
    p.add_argument(
        "--out",
        required=True,
        help="study directory, created if missing; an existing one is resumed",
    )
    p.add_argument(
        "--hidden",
        type=hidden_list,
        default=DEFAULT_HIDDEN,
        help=f"comma list of distinct hidden sizes, each 1 to {MAX_HIDDEN} (default 1,2,4,8)",
    )
    p.add_argument(
        "--runs",
        type=positive_int,
        default=DEFAULT_RUNS,
        help=f"runs per cell and hidden size, >= 1 (default {DEFAULT_RUNS})",
    )
    p.add_argument(
        "--seed", type=seed_int, default=0, help="data and sweep seed, an integer >= 0 (default 0)"
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="threads for the engine, >= 1 (default: all cores)",
    )
    # for tests and quick measurements: fewer epochs, tiny data, a shorter worst case
    p.add_argument("--epochs", type=positive_int, default=30,
                   help="epochs per run, >= 1 (default 30)")
    p.add_argument("--profile", choices=("paper", "smoke"), default="paper",
                   help="data sizes: paper (default) or smoke (tiny, for tests)")
    p.add_argument("--max-length", type=int_in(2, 10_000), default=1000,
                   help="verify every Dyck word up to this length, 2 to 10000 (default 1000)")
    declare_paths(p, output_dirs=("out",))
    p.set_defaults(func=run)


def register(sub) -> None:
    """`counting capacity`."""
    p = sub.add_parser(
        "capacity",
        help="the paper protocol at several hidden sizes: does capacity buy counting?",
        description=DESCRIPTION,
    )
    add_arguments(p)


def build_parser() -> OneLineParser:
    """The parser of `python -m paper_figs.capacity` (the alias of `counting capacity`)."""
    p = OneLineParser(prog=PROG, description=DESCRIPTION)
    add_arguments(p)
    return p


def run(args) -> int:
    """Compile the kernels, then run the study and print the files written."""
    from counting.jit.warmup import warm_cells, warm_engine

    warm_engine("sweep")  # compile before any bar starts, so that their ETAs are honest
    if max(args.hidden) > 1:  # the sweep kernels are compiled per hidden size 1 or > 1
        warm_engine("sweep", hidden_size=max(args.hidden))
    warm_cells()
    from probes.worstcase.warmup import warm_verify

    warm_verify()  # each run's worst case
    for path in run_study(
        args.out,
        args.hidden,
        args.runs,
        args.seed,
        args.jobs,
        args.epochs,
        args.profile,
        args.max_length,
    ):
        print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """`python -m paper_figs.capacity`, the alias of `counting capacity`: bad input -> one
    line `python -m paper_figs.capacity: error: ...`, exit 2, before any work
    (`counting.contract.run`)."""
    from counting.contract import run as run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
