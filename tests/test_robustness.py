"""`counting robustness`: the claims over seeds (hand-made seeds with known answers), the
summary files, resuming, and - slow - the real command on the smoke profile: each seed's
directory is what `counting reproduce` writes, an interrupted run finishes identically, and
(with Ray installed) the Ray grid gives the same results."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from counting.cli import main
from paper_figs import robustness as rb
from paper_figs.layout import WORST_CASE_COLUMNS, read_csv, write_csv
from paper_figs.robustness_claims import (
    COLUMNS,
    percentile,
    percentile_of,
    seed_observations,
    summarize,
)
from paper_figs.robustness_report import write_summary

# ---- hand-made seeds ------------------------------------------------------------------------

# per seed: (mean, min, max) of the very-long FPF per cell
FPF = [
    {"lstm": (900, 850, 910), "relu": (800, 700, 900), "gru": (500, 480, 550)},
    {"lstm": (920, 900, 950), "relu": (930, 900, 990), "gru": (500, 480, 550)},
    {"lstm": (940, 910, 960), "relu": (700, 600, 800), "gru": (710, 600, 800)},
]
LSTM_TRAIN_P = [1e-9, 0.2, math.nan]  # paper: significant
RELU_TRAIN_P = [math.nan, 0.01, 0.5]  # paper: 0.75, not significant
LSTM_FAILURES = [{"early": 8, "at-zero": 2}, {"early": 3, "at-zero": 5}, {}]  # {}: none fail
# per seed: shortest failing word of each LSTM best model (None: none up to max_length)
WORST = [[12, 30, None], [None, None, 2000], [500, 1500]]


def make_seed(d: Path, i: int, worst: bool = True, data: dict | None = None) -> Path:
    d.mkdir(parents=True)
    t1 = [
        {"cell": c, "set": "very_long_fpf", "mean": m, "min": lo, "max": hi}
        for c, (m, lo, hi) in FPF[i].items()
    ]
    t1.append({"cell": "lstm", "set": "train", "mean": 100.0, "min": 100.0, "max": 100.0})
    write_csv(d / "table1.csv", ("cell", "set", "mean", "min", "max"), t1)
    t2 = [
        {"cell": "lstm", "loss_set": "train", "r2": 0.5, "p": LSTM_TRAIN_P[i]},
        {"cell": "relu", "loss_set": "train", "r2": 0.1, "p": RELU_TRAIN_P[i]},
    ]
    write_csv(d / "table2.csv", ("cell", "loss_set", "r2", "p"), t2)
    fm = [
        {"cell": "lstm", "class": c, "count": LSTM_FAILURES[i].get(c, 0)}
        for c in ("early", "at-zero", "depth-dependent", "other")
    ]
    fm.append({"cell": "lstm", "class": "no failure", "count": 0 if LSTM_FAILURES[i] else 20})
    write_csv(d / "failure_modes.csv", ("cell", "class", "count"), fm)
    (d / "results").mkdir()
    if worst:
        cols = WORST_CASE_COLUMNS  # the contract of results/worst_case.csv
        rows = []
        for run, n in enumerate(WORST[i]):
            for kind, length in (("best", n), ("stage", 3)):  # stage models: not counted
                rows.append(
                    {
                        "cell": "lstm",
                        "run": run,
                        "epoch": 5,
                        "kind": kind,
                        "very_long_fpf": 900.0,
                        "certified_length": None if length is None else length - 2,
                        "shortest_failure_length": length,
                        "shortest_failure": None
                        if length is None
                        else f"({length // 2}){length // 2}",
                        "position": None,
                        "class": None,
                        "method": "exhaustive",
                        "exact": True,
                        "max_length": 4000,
                    }
                )
        write_csv(d / "results" / "worst_case.csv", cols, rows)
    record = data or {"source": "generated", "profile": "paper", "seed": i}
    (d / "results" / "data.json").write_text(json.dumps(record))
    (d / "results" / "selection.json").write_text(json.dumps({"profile": "paper", "seed": i}))
    (d / "report.md").write_text("# Reproduction report\n")
    return d


@pytest.fixture
def seeds(tmp_path):
    return [make_seed(tmp_path / f"seed_{i}", i) for i in range(3)]


def rows_by_key(dirs) -> dict[str, dict]:
    return {r["key"]: r for r in summarize([seed_observations(d) for d in dirs])}


def test_percentile_is_numpys_on_finite_values_and_allows_inf():
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 50):
        v = rng.normal(size=n)
        for q in (0, 5, 50, 95, 100):
            assert percentile(v, q) == pytest.approx(np.percentile(v, q), rel=1e-12)
    assert percentile([1, 2, math.inf], 50) == 2
    assert percentile([1, math.inf, math.inf], 50) == math.inf
    assert percentile([1, 2, math.inf], 95) == math.inf
    assert percentile_of(2.0, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(100 * 1.5 / 4)


def test_table1_and_order_claims_on_known_seeds(seeds):
    rows = rows_by_key(seeds)
    r = rows["table1/lstm/very_long_fpf"]  # 916.8 inside [900, 950] and [910, 960] only
    assert r["paper_value"] == 916.8 and r["seeds"] == 3
    assert r["share_agree"] == pytest.approx(2 / 3)
    assert (r["median"], r["p5"], r["p95"]) == pytest.approx((920, 902, 938))
    assert r["paper_percentile"] == pytest.approx(100 / 3)  # only 900 lies below
    r = rows["order"]  # margins min(L-R, R-G): 100, -10 (ReLU > LSTM), -10 (GRU > ReLU)
    assert r["paper_value"] == pytest.approx(916.8 - 871.7)
    assert r["share_agree"] == pytest.approx(1 / 3)
    assert r["median"] == -10 and r["paper_percentile"] == pytest.approx(200 / 3)
    assert rows["table1/lstm/train"]["share_agree"] == 1.0  # 100 in [100, 100]


def test_table2_and_failure_mode_claims_on_known_seeds(seeds):
    rows = rows_by_key(seeds)
    r = rows["table2/lstm/train"]  # paper significant: agree only where our p < 0.05
    assert r["share_agree"] == pytest.approx(1 / 3) and r["seeds"] == 3
    assert r["median"] == pytest.approx((1e-9 + 0.2) / 2)  # the NaN p is left out
    assert rows["table2/relu/train"]["share_agree"] == pytest.approx(2 / 3)  # NaN, 0.5 agree
    r = rows["failure/lstm"]  # early dominant on seed 0 only; seed 2: no failure at all
    assert r["paper_value"] == "early" and r["paper_percentile"] is None
    assert r["share_agree"] == pytest.approx(1 / 3)
    assert r["median"] == pytest.approx((0.8 + 3 / 8) / 2)


def test_worst_case_rows_from_worst_case_csv(seeds):
    r = rows_by_key(seeds)["worst_case/lstm"]
    # per-seed medians over the best models: 30, inf (2 of 3 never fail), 1000
    assert r["paper_value"] is None and r["paper_percentile"] is None
    assert r["share_agree"] == pytest.approx(1 / 3)  # only 30 < 1000
    assert r["median"] == 1000 and r["p95"] == math.inf
    assert r["p5"] == pytest.approx(30 + 0.1 * 970)
    assert "median over the 3 best models" in r["claim"]


def test_no_worst_case_rows_without_the_file(tmp_path):
    dirs = [make_seed(tmp_path / f"seed_{i}", i, worst=False) for i in range(3)]
    assert not [k for k in rows_by_key(dirs) if k.startswith("worst_case")]


def test_summary_files(seeds, tmp_path):
    csv_path, md_path, png_path, json_path = write_summary(tmp_path, seeds)
    meta = json.loads(json_path.read_text())
    assert meta["seeds"] == [0, 1, 2] and meta["disagreements"] == [2, 6, 5]
    assert meta["data_source"] == "generated" and meta["data_sha256"] is None
    assert csv_path.read_text().splitlines()[0] == ",".join(COLUMNS)
    back = {r["claim"]: r for r in read_csv(csv_path)}
    worst = next(r for c, r in back.items() if c.startswith("Worst case, LSTM"))
    assert worst["median"] == 1000 and worst["p95"] == math.inf
    md = md_path.read_text()
    assert "at least 80 % of the seeds" in md and "at most 20 %" in md
    luck = md.split("## Seed luck")[1].split("## Contradicted")[0]
    assert "Table 1, LSTM Very long FPF" in luck  # 2 of 3 seeds
    contra = md.split("## Contradicted")[1].split("## Every claim")[0]
    assert "Table 1, GRU Very long FPF" in contra  # 472.5 never in our range
    assert "Data: generated for each seed" in md
    # seed 0: LSTM and GRU very-long FPF out of range; seed 1: ReLU and GRU FPF, order,
    # LSTM p, ReLU p, failure mode; seed 2: ReLU and GRU FPF, order, LSTM p (NaN), failure
    # mode (no failure at all)
    assert "(seed: count - 0: 2, 1: 6, 2: 5)" in md
    assert "shorter than 1000 tokens" in md
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_quotes_how_often_its_disagreements_occur(seeds, tmp_path):
    """report.md's seed-luck paragraph, from a shipped robustness run (here: of the hand-made
    seeds): the median count over seeds and, per disagreement of this seed, the share of
    seeds that show it."""
    import shutil

    from paper_figs.robustness_reference import seed_luck_sentence

    summary, where = tmp_path / "summary", tmp_path / "ref"
    summary.mkdir()
    where.mkdir()
    write_summary(summary, seeds)
    for ext in ("csv", "json"):
        shutil.copy(summary / f"robustness.{ext}", where / f"generated.{ext}")
    text = seed_luck_sentence(seeds[1], where)
    assert "across 3 seeds" in text and "median of 5 disagreement(s) (2 to 6)" in text
    assert "Table 1, GRU Very long FPF on 100 %" in text  # no seed has 472.5 in range
    assert "Table 1, ReLU Very long FPF on 67 %" in text  # seeds 1 and 2
    assert "Table 1, LSTM Very long FPF" not in text  # seed 1 agrees there
    # on given data, another profile or H > 1 nothing is quoted
    assert "LSTM Very long FPF on 33 %" in seed_luck_sentence(seeds[0], where)  # seed 0 only
    sel = seeds[2] / "results" / "selection.json"
    sel.write_text(json.dumps({"profile": "smoke", "seed": 2}))
    assert seed_luck_sentence(seeds[2], where) is None
    sel.write_text(json.dumps({"profile": "paper", "seed": 2, "hidden_size": 2}))
    assert seed_luck_sentence(seeds[2], where) is None
    (seeds[2] / "results" / "data.json").write_text(json.dumps({"source": "given",
                                                               "sha256": "x"}))
    sel.write_text(json.dumps({"profile": "paper", "seed": 2}))
    assert seed_luck_sentence(seeds[2], where) is None


def test_summary_says_which_given_data(tmp_path):
    record = {
        "source": "given",
        "path": "authors_split",
        "provenance": None,
        "sets": {"train": {"n": 10}},
        "sha256": "ab" * 32,
    }
    dirs = [make_seed(tmp_path / f"seed_{i}", i, data=record) for i in range(3)]
    md = write_summary(tmp_path, dirs)[1].read_text()
    assert "Data: the given set files (train 10 words" in md
    assert "authors_split" not in md  # what identifies the data, not where it sat
    assert "Protocol: `paper`" in md
    assert "The same sets for every seed (fingerprint `abababababab`)" in md


def test_complete_seeds_are_only_aggregated(seeds, tmp_path, monkeypatch):
    """A directory of finished reproductions (report.md present) is summarized without
    reproducing anything - e.g. one filled by `counting reproduce --seed s` runs."""

    def refuse(*a, **k):
        raise AssertionError("a complete seed was reproduced again")

    monkeypatch.setattr(rb, "plan_seed", refuse)
    monkeypatch.setattr(rb, "reproduce", refuse)
    before = {p: p.stat().st_mtime_ns for d in seeds for p in d.rglob("*")}
    written = rb.robustness(tmp_path, range(3), progress=False)
    assert [p.name for p in written] == [
        "robustness.csv", "robustness.md", "robustness.png", "robustness.json"]
    assert before == {p: p.stat().st_mtime_ns for d in seeds for p in d.rglob("*")}


def test_a_complete_seed_of_another_kind_is_refused(seeds, tmp_path, capsys):
    """A finished seed_<s> of another profile, or on other data, is not mixed in."""
    from paper_figs.data_source import DataSource

    code = main(["robustness", "--seeds", "0:3", "--out", str(tmp_path), "--profile", "smoke"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "seed_0 holds a reproduction with profile paper and seed 0" in err[0]
    given = DataSource(
        {n: ["()"] for n in ("train", "validation", "long", "very_long", "zigzag")},
        {"source": "given", "path": "x"},
    )
    with pytest.raises(ValueError, match="seed_0 holds a reproduction with generated data"):
        rb.robustness(tmp_path, range(3), data=given, progress=False)


def test_ray_missing_is_one_line_with_the_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main(
        [
            "robustness",
            "--seeds",
            "0:1",
            "--out",
            str(tmp_path / "r"),
            "--profile",
            "smoke",
            "--ray",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install -e '.[ray]'" in err[0] and err[0].startswith("counting robustness:")
    assert not (tmp_path / "r").exists()


# ---- the real command, smoke profile ---------------------------------------------------------

SMOKE = ["--profile", "smoke", "--jobs", "1"]


def tree(root: Path) -> dict:
    """Every file under root, comparable exactly: histories without the wall-time field
    `seconds`; checkpoints by their tensors and fields (Ray's writes differ in zip layout);
    every other file by its bytes."""
    snap = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        if p.name == "history.json":
            h = json.loads(p.read_text())
            for e in h["epochs"]:
                e.pop("seconds")
            snap[rel] = h
        elif p.suffix == ".pt":
            raw = torch.load(p, weights_only=True)
            snap[rel] = (
                {k: v for k, v in raw.items() if k != "state_dict"},
                {k: v.numpy().tobytes() for k, v in raw["state_dict"].items()},
            )
        else:
            snap[rel] = p.read_bytes()
    return snap


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """`counting robustness --seeds 0:2` in A/, and `counting reproduce --seed 1` in B/, both
    with the relative output path R (the results record their run directories' paths)."""
    import os

    base = tmp_path_factory.mktemp("robust")
    cwd = os.getcwd()
    try:
        (base / "A").mkdir()
        os.chdir(base / "A")
        assert main(["robustness", "--seeds", "0:2", "--out", "R", *SMOKE]) == 0
        (base / "B").mkdir()
        os.chdir(base / "B")
        assert main(["reproduce", "--seed", "1", "--out", "R/seed_1", *SMOKE]) == 0
    finally:
        os.chdir(cwd)
    return base


@pytest.mark.slow
def test_each_seed_is_what_counting_reproduce_writes(smoke):
    ours, theirs = tree(smoke / "A" / "R" / "seed_1"), tree(smoke / "B" / "R" / "seed_1")
    assert ours.keys() == theirs.keys() and "report.md" in ours and "fig3.png" in ours
    assert ours == theirs
    a, b = smoke / "A" / "R" / "seed_1", smoke / "B" / "R" / "seed_1"
    for name in ("fig1.png", "best.pt"):  # the bytes themselves, not only their content
        pa = next(a.rglob(name))
        assert pa.read_bytes() == (b / pa.relative_to(a)).read_bytes()
    md = (smoke / "A" / "R" / "robustness.md").read_text()
    counts = []
    for s in (0, 1):  # the counts per seed are report.md's own
        report = (smoke / "A" / "R" / f"seed_{s}" / "report.md").read_text()
        found = re.search(r"(\d+) disagreement\(s\) with the paper", report)
        counts.append(f"{s}: {found.group(1) if found else 0}")
    assert f"(seed: count - {', '.join(counts)})" in md
    rows = read_csv(smoke / "A" / "R" / "robustness.csv")
    assert all(r["seeds"] == 2 for r in rows) and len(rows) == 25 + 3  # + worst case
    assert [r["key"] for r in rows[-3:]] == [f"worst_case/{c}" for c in ("lstm", "relu", "gru")]


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_files(smoke, tmp_path, monkeypatch):
    """The sweeps of both seeds go to the executor in ONE call; the run is interrupted in
    seed 1's evaluation; the same command again finishes with every file as in one go."""
    import os

    from counting.executors import LocalExecutor

    calls = []

    class Spy(LocalExecutor):
        def execute(self, batches, progress=True):
            calls.append(len(batches))
            return super().execute(batches, progress)

    real = rb.reproduce

    def interrupted(out, profile, seed, *a, **k):
        if seed == 1:
            raise KeyboardInterrupt
        return real(out, profile, seed, *a, **k)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rb, "reproduce", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rb.robustness("R", range(2), "smoke", 1, executor=Spy(1), progress=False)
    assert calls == [2]  # both seeds' sweeps, one grid
    assert rb.is_complete("R", 0) and not rb.is_complete("R", 1)
    done0 = {p: p.stat().st_mtime_ns for p in Path("R/seed_0").rglob("*")}
    monkeypatch.setattr(rb, "reproduce", real)
    assert main(["robustness", "--seeds", "0:2", "--out", "R", *SMOKE]) == 0
    assert done0 == {p: p.stat().st_mtime_ns for p in Path("R/seed_0").rglob("*")}
    assert tree(tmp_path / "R") == tree(smoke / "A" / "R")
    assert os.path.isfile("R/robustness.png")


@pytest.mark.slow
def test_ray_grid_gives_the_same_results(smoke, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed; pip install -e '.[ray]'")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert (
        main(
            [
                "robustness",
                "--seeds",
                "0:2",
                "--out",
                "R",
                "--profile",
                "smoke",
                "--jobs",
                "2",
                "--ray",
            ]
        )
        == 0
    )
    assert tree(tmp_path / "R") == tree(smoke / "A" / "R")
