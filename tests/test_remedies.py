"""The remedies study (`paper_figs.remedies`): its table's arithmetic, its files, resume."""

from __future__ import annotations

import csv
import math

import pytest

from paper_figs import remedies, remedies_report
from paper_figs.remedies import REMEDIES, Remedy, run_study, slug


def rec(cell, length, fpf=500.0, all_right=False, diverged=False, refused=None):
    r = {"cell": cell, "run": 0, "seed": 1, "diverged": diverged, "refused": refused}
    if length != "no model":
        r.update({"very_long_fpf": fpf, "very_long_all_right": all_right,
                  "shortest_failure": length, "certified_length": 0, "verify_method": "exact"})
    return r


def test_summary_row_counts_runs_without_a_failure_as_none():
    recs = [rec("lstm", 40), rec("lstm", None, 1000.0, True), rec("lstm", 12),
            rec("lstm", "no model", diverged=True)]
    row = remedies_report.summarize("lstm", "clip 1", recs)
    assert row["runs"] == 4 and row["diverged"] == 1
    assert row["mean_very_long_fpf"] == pytest.approx((500 + 1000 + 500) / 3)
    assert row["share_very_long_all_right"] == 0.25
    # lengths 12, 40, inf: median 40, min 12, max none; 1 of 4 runs certified
    assert (row["shortest_failure_median"], row["shortest_failure_min"],
            row["shortest_failure_max"]) == (40, 12, "none")
    assert row["share_certified"] == 0.25


def test_an_even_number_of_lengths_has_the_mean_of_the_middle_two_as_median():
    row = remedies_report.summarize("relu", "baseline", [rec("relu", 10), rec("relu", 13)])
    assert row["shortest_failure_median"] == 11.5
    row = remedies_report.summarize("relu", "x", [rec("relu", 10), rec("relu", None)])
    assert row["shortest_failure_median"] == "none"


def test_the_paragraph_separates_standard_starts_from_constructions_and_repair():
    rows = [remedies_report.summarize("lstm", "baseline", [rec("lstm", 20)]),
            remedies_report.summarize("lstm", "clip 1", [rec("lstm", 30)]),
            remedies_report.summarize("lstm", "repair", [rec("lstm", None)])]
    text = remedies_report.paragraph(rows, 1000)
    assert "Best: repair" in text and "Also better than the baseline: clip 1" in text
    assert "No remedy that trains from a standard start" in text
    assert "LSTM with repair (100%)" in text
    rows[1] = remedies_report.summarize("lstm", "clip 1", [rec("lstm", None), rec("lstm", 5)])
    assert "some runs are right on every Dyck word up to 1000: LSTM with clip 1 (50%)" in \
        remedies_report.paragraph(rows, 1000)


def test_slugs_are_distinct_directory_names():
    slugs = [slug(r.name) for r in REMEDIES]
    assert len(set(slugs)) == len(slugs)
    assert all(s and "/" not in s and " " not in s for s in slugs)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("remedies")
    few = (Remedy("baseline", cells=("relu", "lstm")), Remedy("clip 1", {"clip": 1.0}, ("relu",)),
           Remedy("repair", {}, ("lstm", "relu"), repair=True))
    files = run_study(out, runs=2, epochs=2, profile="smoke", max_length=20, progress=False,
                      remedies=few)
    return out, few, files


def test_the_study_writes_its_table_with_the_contract_columns(study):
    out, few, files = study
    assert {p.name for p in files} == {"remedies.csv", "remedies.md", "remedies.json",
                                       "remedies.png"}
    with (out / "remedies.csv").open() as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == remedies_report.COLUMNS
        rows = list(reader)
    assert {(r["cell"], r["remedy"]) for r in rows} == {
        ("lstm", "baseline"), ("relu", "baseline"), ("relu", "clip 1"), ("lstm", "repair"),
        ("relu", "repair")}
    for r in rows:
        assert int(r["runs"]) == 2
        assert 0.0 <= float(r["share_certified"]) <= 1.0
    assert "What fixes counting?" in (out / "remedies.md").read_text()


def test_scores_are_the_verify_result_of_each_best_model(study):
    import json

    from counting.checkpoint import load_checkpoint
    from counting.sweep import run_dir
    from probes import verify

    out, _, _ = study
    recs = json.loads((out / "results" / "baseline.json").read_text())
    for r in recs:
        model, _ = load_checkpoint(run_dir(out / "sweeps" / "baseline", r["cell"], r["run"])
                                   / "best.pt")
        v = verify(model, max_length=20)
        f = v["shortest_failure"]
        assert r["shortest_failure"] == (None if f is None else f["length"])
        assert r["certified_length"] == v["certified_length"]


def test_a_rerun_resumes_without_training_again(study, monkeypatch):
    out, few, _ = study
    before = {p: p.stat().st_mtime_ns for p in (out / "sweeps").rglob("*.pt")}

    def no_training(*a, **k):
        raise AssertionError("a finished study trained again")

    monkeypatch.setattr("counting.sweep.run_sweep", no_training)
    run_study(out, runs=2, epochs=2, profile="smoke", max_length=20, progress=False,
              remedies=few)
    assert {p: p.stat().st_mtime_ns for p in (out / "sweeps").rglob("*.pt")} == before


def test_bad_options_are_one_line(capsys, tmp_path):
    for argv in (["--runs", "0"], ["--max-length", "1"], ["--seed", "-1"]):
        assert remedies.main(["--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error: argument" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_every_named_remedy_runs_on_smoke_data(tmp_path):
    run_study(tmp_path, runs=1, epochs=1, profile="smoke", max_length=12, progress=False)
    with (tmp_path / "remedies.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    expected = {(c, r.name) for r in REMEDIES for c in r.cells}
    assert {(r["cell"], r["remedy"]) for r in rows} == expected
    assert all(not math.isnan(float(r["share_certified"])) for r in rows)
