"""The capacity study (`paper_figs.capacity`) and `counting reproduce --hidden-size`."""

from __future__ import annotations

import csv
import json
import math

import pytest

from paper_figs import capacity_report
from paper_figs.capacity import run_study
from paper_figs.capacity_report import COLUMNS, paragraph, summarize, table_rows


def rec(cell, h, fpf, share=0.0, length=40, cert=38, method="exact", r2=0.9, acc=90.0,
        diverged=False):
    """One run's scores as paper_figs.capacity writes them."""
    return {"cell": cell, "hidden_size": h, "run": 0, "seed": 1, "diverged": diverged,
            "very_long_fpf": fpf, "very_long_share_right": share, "long_accuracy": acc,
            "shortest_failure": length, "certified_length": cert, "verify_method": method,
            "depth_probe_r2": r2}


# ------------------------------------------------------------------ the table's arithmetic
def test_a_row_averages_per_run_shares_and_takes_medians():
    recs = [rec("lstm", 2, 900.0, share=0.5, length=60, cert=20, method="bound", r2=0.5),
            rec("lstm", 2, 800.0, share=0.0, length=None, cert=40, method="bound", r2=None),
            rec("lstm", 2, 700.0, share=0.25, length=30, cert=28, method="exact", r2=0.7,
                diverged=True),
            {"cell": "lstm", "hidden_size": 2, "run": 3, "seed": 4, "diverged": True}]
    row = summarize("lstm", 2, recs)
    assert row["runs"] == 4 and row["diverged"] == 2
    assert row["very_long_fpf_mean"] == pytest.approx(800.0)
    assert (row["very_long_fpf_min"], row["very_long_fpf_max"]) == (700.0, 900.0)
    assert row["share_fully_right"] == pytest.approx(0.25)  # (0.5 + 0 + 0.25) / 3 models
    assert row["long_accuracy_mean"] == pytest.approx(90.0)
    # lengths 30, 60, inf -> 60; one run not exact -> the median is a bound
    assert row["shortest_failure_median"] == 60 and row["shortest_failure_method"] == "bound"
    assert row["certified_length_median"] == 28
    assert row["depth_probe_r2_median"] == pytest.approx(0.6)  # the undefined probe left out
    row = summarize("relu", 1, [rec("relu", 1, 5.0, length=None), rec("relu", 1, 5.0,
                                                                       length=None)])
    assert row["shortest_failure_median"] == "none" and row["shortest_failure_method"] == "exact"
    assert summarize("gru", 1, [rec("gru", 1, 1.0, length=10), rec("gru", 1, 1.0, length=13)])[
        "shortest_failure_median"] == 11.5


def _results(spec):
    """{H: {"runs": [...]}} from {(cell, H): [fpf, ...]} with fixed other scores."""
    out = {}
    for (cell, h), runs in spec.items():
        out.setdefault(h, {"runs": []})["runs"] += [
            rec(cell, h, f, **kw) for f, kw in runs]
    return out


def test_the_paragraph_answers_no_when_nothing_changes():
    res = _results({("lstm", 1): [(900.0 + i, {}) for i in range(5)],
                    ("lstm", 4): [(900.5 + i, {}) for i in range(5)]})
    text = paragraph(table_rows(res), res, 1000)
    assert text.startswith("**Does capacity buy long-range counting?** No: from H = 1 to H = 4")
    assert "LSTM: mean very-long FPF 902.0 at H = 1, 902.5 at H = 4 (no significant change" in text


def test_the_paragraph_separates_a_higher_fpf_from_long_range_counting():
    res = _results({("relu", 1): [(100.0 + i, {}) for i in range(6)],
                    ("relu", 8): [(600.0 + i, {"method": "bound", "cert": 10}) for i in range(6)]})
    text = paragraph(table_rows(res), res, 1000)
    assert "Not long-range counting: from H = 1 to H = 8 the mean very-long FPF rises " \
        "significantly for ReLU" in text
    assert "(higher, Mann-Whitney p = " in text
    assert "median shortest failing word 40 -> 12-40 (a bound)" in text


def test_the_paragraph_says_yes_where_a_larger_h_counts_long():
    right = {"share": 1.0, "length": None, "cert": 1000}
    res = _results({("lstm", 1): [(900.0 + i, {}) for i in range(6)],
                    ("lstm", 2): [(1000.0, right) for _ in range(6)],
                    ("gru", 1): [(500.0 - i, {}) for i in range(6)],
                    ("gru", 2): [(400.0 - i, {}) for i in range(6)]})
    text = paragraph(table_rows(res), res, 1000)
    assert "Yes for LSTM (from H = 2)" in text
    assert "falls significantly for GRU" in text
    assert "none up to 1000" in text


def test_the_paragraph_names_a_peak_between_the_ends_as_untested():
    res = _results({("gru", 1): [(400.0 + i, {}) for i in range(3)],
                    ("gru", 2): [(700.0 + i, {}) for i in range(3)],
                    ("gru", 8): [(401.0 + i, {}) for i in range(3)]})
    text = paragraph(table_rows(res), res, 1000)
    assert "highest mean at H = 2: 701.0, not tested" in text
    assert text.startswith("**Does capacity buy long-range counting?** No:")


def test_the_mann_whitney_test_handles_ties_and_small_samples():
    assert capacity_report.mann_whitney([1.0], [2.0, 3.0]) is None
    assert capacity_report.mann_whitney([5.0, 5.0], [5.0, 5.0]) == 1.0
    assert capacity_report.mann_whitney([1.0, 2.0, 3.0, 4.0, 5.0],
                                        [6.0, 7.0, 8.0, 9.0, 10.0]) < 0.05


# ------------------------------------------------------------------ the study, end to end
STUDY = {"hidden": (1, 2), "runs": 2, "epochs": 2, "profile": "smoke", "max_length": 20,
         "progress": False}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("capacity")
    files = run_study(out, **STUDY)
    return out, files


def _csv(path):
    with open(path) as fh:
        reader = csv.DictReader(fh)
        return tuple(reader.fieldnames), list(reader)


@pytest.mark.slow
def test_the_study_writes_its_files_with_the_contract_columns(study):
    out, files = study
    assert [p.name for p in files] == ["capacity.csv", "capacity.md", "capacity.png",
                                       "capacity.json"]
    columns, rows = _csv(out / "capacity.csv")
    assert columns == COLUMNS
    assert [(r["cell"], r["hidden_size"]) for r in rows] == [
        (c, h) for c in ("lstm", "relu", "gru") for h in ("1", "2")]
    assert all(r["runs"] == "2" for r in rows)
    method = {r["hidden_size"]: {x["shortest_failure_method"] for x in rows if
                                 x["hidden_size"] == r["hidden_size"]} for r in rows}
    assert method == {"1": {"exact"}, "2": {"bound"}}  # verify at H > 1 is a sound bound
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "capacity.md").read_text()
    assert "**Does capacity buy long-range counting?**" in md
    for name in ("LSTM: mean very-long FPF", "ReLU: mean very-long FPF", "GRU: mean very-long"):
        assert name in md
    assert "| " + " | ".join(COLUMNS) + " |" in md


@pytest.mark.slow
def test_the_table_is_the_runs_scores_and_the_scores_are_the_models(study):
    """The csv's numbers follow from results/h<H>.json, and those from the checkpoints."""
    from counting.checkpoint import load_checkpoint
    from counting.engine import evaluate_many
    from counting.sweep import run_dir

    out, _ = study
    _, rows = _csv(out / "capacity.csv")
    words = [line.split(",")[0] for line in (out / "data" / "very_long.txt").read_text().split()]
    for h in (1, 2):
        saved = json.loads((out / "results" / f"h{h}.json").read_text())
        for cell in ("lstm", "relu", "gru"):
            mine = [r for r in saved["runs"] if r["cell"] == cell]
            row = next(r for r in rows if r["cell"] == cell and r["hidden_size"] == str(h))
            fpf = [r["very_long_fpf"] for r in mine]
            assert float(row["very_long_fpf_mean"]) == pytest.approx(sum(fpf) / len(fpf))
            r0 = mine[0]
            model = load_checkpoint(run_dir(out / "sweeps" / f"h{h}", cell, r0["run"])
                                    / "best.pt")[0]
            assert model.hidden_size == h
            fresh = evaluate_many([model], words)[0]
            assert r0["very_long_fpf"] == fresh["fpf"]
            assert r0["very_long_share_right"] == fresh["fully_right"] / fresh["n"]
            assert r0["verify_method"] == ("exact" if h == 1 else "bound")
            assert r0["depth_probe_r2"] is None or 0.0 <= r0["depth_probe_r2"] <= 1.0 + 1e-12


@pytest.mark.slow
def test_the_study_resumes_without_retraining_or_rescoring(study):
    out, _ = study
    best = out / "sweeps" / "h2" / "gru" / "run_01" / "best.pt"
    before = (best.stat().st_mtime_ns, (out / "results" / "h2.json").stat().st_mtime_ns)
    csv_before = (out / "capacity.csv").read_bytes()
    run_study(out, **STUDY)
    assert (best.stat().st_mtime_ns, (out / "results" / "h2.json").stat().st_mtime_ns) == before
    assert (out / "capacity.csv").read_bytes() == csv_before
    # scores lost (an interruption while scoring): recomputed, the same bytes
    (out / "results" / "h2.json").unlink()
    run_study(out, **STUDY)
    assert best.stat().st_mtime_ns == before[0]
    assert (out / "capacity.csv").read_bytes() == csv_before
    # one hidden size of the study: its own sweep is reused
    run_study(out, **{**STUDY, "hidden": (2,)})
    _, rows = _csv(out / "capacity.csv")
    _, old = _csv_from_bytes(csv_before)
    assert rows == [r for r in old if r["hidden_size"] == "2"]
    assert best.stat().st_mtime_ns == before[0]
    assert "One hidden size (H = 2) only" in (out / "capacity.md").read_text()
    run_study(out, **STUDY)  # leave the full study for the other tests


def _csv_from_bytes(data: bytes):
    reader = csv.DictReader(data.decode().splitlines())
    return tuple(reader.fieldnames), list(reader)


def test_a_one_run_study_at_one_hidden_size_is_complete(tmp_path):
    """The fast end-to-end test: H = 2, one run per cell, one epoch."""
    files = run_study(tmp_path, hidden=(2,), runs=1, epochs=1, profile="smoke",
                      max_length=10, progress=False)
    assert {p.name for p in files} == {"capacity.csv", "capacity.md", "capacity.png",
                                       "capacity.json"}
    columns, rows = _csv(tmp_path / "capacity.csv")
    assert columns == COLUMNS and len(rows) == 3
    assert all(r["shortest_failure_method"] == "bound" for r in rows)
    for r in rows:
        assert 0 <= float(r["share_fully_right"]) <= 1
        assert math.isfinite(float(r["very_long_fpf_mean"]))


@pytest.mark.parametrize("kw, message", [
    ({"hidden": (0,)}, "hidden must be distinct integers from 1 to 8"),
    ({"hidden": (9,)}, "hidden must be distinct"),
    ({"hidden": (2, 2)}, "hidden must be distinct"),
    ({"hidden": ()}, "hidden must be distinct"),
    ({"runs": 0}, "runs must be an integer >= 1"),
])
def test_bad_arguments_are_refused_before_any_work(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        run_study(tmp_path / "s", **{**STUDY, **kw})
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------ counting reproduce --hidden-size
def test_the_report_names_a_hidden_size_above_one_and_says_nothing_at_one():
    from paper_figs.report import hidden_size_sentence

    assert hidden_size_sentence({"profile": "paper"}) is None
    assert hidden_size_sentence({"hidden_size": 1}) is None
    text = hidden_size_sentence({"hidden_size": 4})
    assert text.startswith("Hidden size H = 4:")
    assert "the paper's single-cell (H = 1) numbers" in text


@pytest.mark.slow
def test_reproduce_with_hidden_size_2_on_the_smoke_profile(tmp_path, capsys):
    from counting.checkpoint import load_checkpoint
    from counting.cli import main

    out = tmp_path / "rep"
    assert main(["reproduce", "--out", str(out), "--profile", "smoke", "--jobs", "1",
                 "--hidden-size", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    sel = json.loads((out / "results" / "selection.json").read_text())
    assert sel["hidden_size"] == 2
    model, _ = load_checkpoint(sel["cells"]["lstm"][0]["dir"] + "/best.pt")
    assert model.hidden_size == 2
    report = (out / "report.md").read_text()
    assert "Hidden size H = 2: every model has 2 units" in report
    assert "## Failure modes" in report
    _, failures = _csv(out / "results" / "failures.csv")
    assert failures and {f["class"] for f in failures} <= {"early", "at-zero",
                                                           "depth-dependent", "other"}
