"""`counting robustness`: the paper reproduced once per seed, and how robust each claim is.

    robustness(out, seeds=range(A, B), profile="paper", jobs=None, data=None,
               executor=None, progress=True) -> [paths written]

1. Every seed s of A..B-1 whose DIR/seed_<s>/report.md is missing gets its data and its
   sweep set up exactly as `reproduce(DIR/seed_<s>, profile, s, data=data)` sets them up
   (`paper_figs.reproduce.plan_seed`). The sweeps of all these seeds then train as ONE grid:
   one `executor.execute` call over their batches (`counting.executors`: the LocalExecutor
   trains them one after another in this process; a RayExecutor, `--ray`, spreads the
   whole grid over the cluster's CPUs).
2. Per such seed (a progress bar over seeds): `paper_figs.reproduce.reproduce(DIR/seed_<s>,
   profile, s, jobs, data=data)` - the very function `counting reproduce` runs. It finds
   its sweep trained and evaluates, writing the tables, figures and report.md. So
   DIR/seed_<s>/ is what `counting reproduce --seed s --out DIR/seed_<s>` (with the same
   `--data`) writes, byte for byte but for the wall-time field `seconds` of the histories
   (tests/test_robustness.py).
3. Every seed of A..B-1 is read back and summarized (`paper_figs.robustness_claims`) ->
   DIR/robustness.csv, DIR/robustness.md, DIR/robustness.png
   (`paper_figs.robustness_report`).

Resumable: a seed whose report.md exists is complete and is not touched, so DIR may hold
reproductions run one by one with `counting reproduce --seed s --out DIR/seed_<s>` (its
results/selection.json and data.json must say the same profile, seed and data, else
ValueError before any work); an
interrupted grid resumes as a sweep does (finished runs are kept). Two commands must not
work on one seed directory at the same time.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from paper_figs.data_source import DataSource, given_data
from paper_figs.reproduce import PLANS, plan_seed, reproduce, resolve_protocol


def seed_dir(out, seed: int) -> Path:
    return Path(out) / f"seed_{seed}"


def is_complete(out, seed: int) -> bool:
    """A seed's reproduction is complete once its report.md exists (written last)."""
    return (seed_dir(out, seed) / "report.md").is_file()


def check_complete(out, seed: int, profile: str, data_sha256: str | None,
                   protocol=None) -> None:
    """A complete seed must be the reproduction this command would write: ValueError when
    its results/selection.json or data.json say another profile, seed, data or protocol."""
    import json

    from counting.training import protocol_name

    protocol = resolve_protocol(protocol)

    res = seed_dir(out, seed) / "results"
    try:
        sel = json.loads((res / "selection.json").read_text())
        data_json = res / "data.json"  # absent in reproductions older than it: generated
        record = json.loads(data_json.read_text()) if data_json.is_file() else {}
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{seed_dir(out, seed)} has a report.md but no readable results/selection.json "
            f"or data.json ({err})"
        ) from None
    given = record.get("source") == "given"
    why = []
    if sel.get("profile") != profile or sel.get("seed") != seed:
        why.append(f"profile {sel.get('profile')} and seed {sel.get('seed')}")
    if sel.get("hidden_size", 1) != 1:
        why.append(f"hidden size {sel['hidden_size']}")
    theirs = {k: v for k, v in sel.get("protocol", {}).items() if k != "name"}
    if resolve_protocol(theirs) != protocol:
        why.append(f"protocol {protocol_name(resolve_protocol(theirs))}")
    if data_sha256 is None and given:
        why.append(f"the given data of {record.get('path')}")
    if data_sha256 is not None and record.get("sha256") != data_sha256:
        why.append("other data" if given else "generated data")
    if why:
        raise ValueError(
            f"{seed_dir(out, seed)} holds a reproduction with {', '.join(why)}, not what "
            f"this command asks for (profile {profile}, seed {seed}, protocol "
            f"{protocol_name(protocol)}, "
            f"{'the given data' if data_sha256 else 'generated data'}); use another --out"
        )


def robustness(
    out, seeds, profile="paper", jobs=None, data=None, executor=None, progress=True,
    protocol=None,
) -> list[Path]:
    """Reproduce the paper for every seed in `seeds` not yet complete, then summarize all of
    them (see the module docstring) -> the summary files written.

    seeds: an iterable of ints >= 0 (A..B-1 on the command line). data: None (each seed
    generates its own sets, as `counting reproduce --seed s` does), a directory of the five
    set files, or a `paper_figs.data_source.DataSource` (the same sets for every seed).
    executor: where the sweeps train (None: `counting.executors.LocalExecutor(jobs)`).
    protocol: as `reproduce`'s (None: the paper protocol), the same for every seed.
    """
    from counting.executors import LocalExecutor
    from paper_figs.robustness_report import write_summary

    if profile not in PLANS:
        raise ValueError(f"profile must be one of {sorted(PLANS)}, got {profile!r}")
    seeds = list(seeds)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be integers >= 0, got {seeds!r}")
    out = Path(out)
    protocol = resolve_protocol(protocol)
    if data is not None and not isinstance(data, DataSource):
        data = given_data(data)
    sha = data.record()["sha256"] if data is not None else None
    todo = [s for s in seeds if not is_complete(out, s)]
    pending = set(todo)
    for s in seeds:
        if s not in pending:
            check_complete(out, s, profile, sha, protocol)
    if todo:  # the bars are closed on an error too, so that the error line comes last
        with tqdm(todo, desc="data and sweeps set up", unit="seed", disable=not progress) as bar:
            plans = [plan_seed(seed_dir(out, s), profile, s, data, progress=False,
                               protocol=protocol) for s in bar]
        (executor or LocalExecutor(jobs)).execute([p.batch for p in plans], progress)
        with tqdm(todo, desc="seeds", unit="seed", disable=not progress) as bar:
            for s in bar:
                reproduce(seed_dir(out, s), profile, s, jobs, progress=False, data=data,
                          protocol=protocol)
    return write_summary(out, [seed_dir(out, s) for s in seeds])


__all__ = ["check_complete", "is_complete", "robustness", "seed_dir"]
