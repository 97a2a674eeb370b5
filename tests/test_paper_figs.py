import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import linregress

from paper_figs import failure_modes, table1, table2
from paper_figs.reproduce import reproduce, select_runs


def test_table1_on_hand_made_rows():
    rows = []
    for acc, fpf, full in [(100.0, 1000.0, 100), (90.0, 500.0, 0)]:
        rows.append(
            {"cell": "relu", "set": "train", "accuracy": acc, "fpf": 0, "n": 10, "fully_right": 0}
        )
        rows.append(
            {
                "cell": "relu",
                "set": "very_long",
                "accuracy": 0,
                "fpf": fpf,
                "n": 100,
                "fully_right": full,
            }
        )
    t = {r["set"]: r for r in table1.compute(rows)}
    assert t["train"] == {
        "cell": "relu",
        "set": "train",
        "mean": 95.0,
        "min": 90.0,
        "max": 100.0,
        "none_failed": False,
    }
    assert t["very_long_fpf"]["mean"] == 750.0 and t["very_long_fpf"]["none_failed"] is True
    assert "750.0 (500.0 / none)" in table1.markdown(table1.compute(rows))


def test_table2_regression_matches_scipy_on_the_stated_variables():
    rng = np.random.default_rng(0)
    loss = rng.uniform(1e-4, 1e-1, 20)
    fpf = 100 * -np.log(loss) + rng.normal(0, 50, 20)
    rows = [
        {"cell": "lstm", "train_loss": a, "validation_loss": a, "long_loss": a, "very_long_fpf": b}
        for a, b in zip(loss, fpf)
    ]
    got = {r["loss_set"]: r for r in table2.compute(rows)}
    ref = linregress(-np.log(loss), fpf)
    assert got["validation"]["r2"] == pytest.approx(ref.rvalue**2, rel=1e-12)
    assert got["validation"]["p"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_table2_is_nan_when_fpf_cannot_be_regressed():
    rows = [
        {
            "cell": "gru",
            "train_loss": 0.1,
            "validation_loss": 0.1,
            "long_loss": 0.1,
            "very_long_fpf": f,
        }
        for f in (1.0, 2.0, 3.0)
    ]
    assert all(math.isnan(r["r2"]) for r in table2.compute(rows))  # x constant


def test_failure_modes_counts_and_dominant_class():
    failures = [{"cell": "lstm", "class": c} for c in ["early", "early", "at-zero"]]
    zig = [{"cell": "lstm", "fpf": f, "length": 2000} for f in (10, 20, 30, 2000)]
    table = failure_modes.compute(failures, zig)
    counts = {r["class"]: r["count"] for r in table}
    assert counts == {"early": 2, "at-zero": 1, "depth-dependent": 0, "other": 0, "no failure": 1}
    assert failure_modes.dominant(table, "lstm") == "early"


def test_select_runs_keeps_the_lowest_finite_best_validation_loss():
    rows = [
        {"cell": "relu", "run": r, "best_validation_loss": v}
        for r, v in enumerate([0.3, None, 0.1, float("nan"), 0.2, 0.05])
    ]
    kept = select_runs(rows, 3)
    assert [r["run"] for r in kept["relu"]] == [5, 2, 4]
    assert kept["lstm"] == []


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    written = reproduce(out, "smoke", seed=0, progress=False)
    return out, written


def test_smoke_reproduction_writes_every_output(smoke_run):
    out, written = smoke_run
    names = {p.name for p in written}
    assert names == {
        "table1.csv",
        "table1.md",
        "table2.csv",
        "table2.md",
        "fig1.png",
        "fig2.png",
        "fig3.png",
        "fig4.png",
        "failure_modes.csv",
        "report.md",
    }
    for name in ("fig1.png", "fig2.png", "fig3.png", "fig4.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_smoke_reproduction_content_is_sane(smoke_run):
    out, _ = smoke_run
    with open(out / "table1.csv") as fh:
        t1 = list(csv.DictReader(fh))
    assert list(t1[0]) == ["cell", "set", "mean", "min", "max"]
    assert {r["cell"] for r in t1} == {"lstm", "relu", "gru"}
    for r in t1:
        lo, mean, hi = float(r["min"]), float(r["mean"]), float(r["max"])
        assert lo <= mean <= hi
        top = {"very_long_fpf": 200, "shortest_failure": 1000}.get(r["set"], 100)
        assert 0 <= lo and hi <= top
    with open(out / "table2.csv") as fh:
        assert list(csv.DictReader(fh))[0].keys() == {"cell", "loss_set", "r2", "p"}
    sel = json.loads((out / "results" / "selection.json").read_text())
    assert [len(sel["cells"][c]) for c in ("lstm", "relu", "gru")] == [2, 2, 2]
    with open(out / "failure_modes.csv") as fh:
        fm = list(csv.DictReader(fh))
    # every (model, zigzag sequence) pair is counted exactly once: 4 models x 5 sequences
    for cell in ("lstm", "relu", "gru"):
        assert sum(int(r["count"]) for r in fm if r["cell"] == cell) == 4 * 5
    report = (out / "report.md").read_text()
    assert "## Table 1" in report and "## Table 2" in report and "## Failure modes" in report


def test_reproduction_resumes_without_retraining(smoke_run):
    out, _ = smoke_run
    before = (out / "sweep" / "lstm" / "run_00" / "best.pt").stat().st_mtime_ns
    reproduce(out, "smoke", seed=0, progress=False)
    assert (out / "sweep" / "lstm" / "run_00" / "best.pt").stat().st_mtime_ns == before


def test_figure_modules_run_alone(smoke_run, capsys):
    from paper_figs import fig3
    from paper_figs.layout import run_module

    out, _ = smoke_run

    assert run_module(fig3.make, [str(out)]) == 0
    assert "fig3.png" in capsys.readouterr().out
    assert run_module(fig3.make, [str(out / "nowhere")]) == 2


# ----------------------------------------------------- what the fast paths must not change
def _stage_models(out):
    from counting.checkpoint import load_checkpoint

    rows = list(csv.DictReader(open(out / "results" / "stage_models.csv")))
    sel = json.loads((out / "results" / "selection.json").read_text())
    dirs = {(c, r["run"]): r["dir"] for c in sel["cells"] for r in sel["cells"][c]}
    paths = [f"{dirs[r['cell'], int(r['run'])]}/checkpoints/epoch_{int(r['epoch']):02d}.pt"
             for r in rows]
    return rows, [load_checkpoint(p)[0] for p in paths]


def test_failures_equal_the_probes_own_trace(smoke_run):
    """failures.csv is computed from stacked outputs; the probes' per-model trace (the path
    before) must give the same rows."""
    from probes import classify_failures

    out, _ = smoke_run
    rows, models = _stage_models(out)
    zig = [line.split(",")[0] for line in (out / "data" / "zigzag.txt").read_text().split()]
    expected = []
    for r, m in zip(rows, models):
        for f in classify_failures(m, zig, "zigzag"):
            expected.append([r["cell"], r["run"], r["epoch"], str(f["sequence"]),
                             str(zig[f["sequence"]].index(")")), str(f["position"]),
                             str(f["depth"]), str(f["peak"]), f["class"]])
    got = [list(r.values()) for r in csv.DictReader(open(out / "results" / "failures.csv"))]
    assert got == expected and len(got) > 0


def test_stage_losses_read_from_history_equal_a_fresh_evaluation(smoke_run):
    from counting.engine import evaluate_many

    out, _ = smoke_run
    rows, models = _stage_models(out)
    for name in ("train", "validation", "long"):
        words = [line.split(",")[0] for line in (out / "data" / f"{name}.txt").read_text().split()]
        fresh = [m["loss"] for m in evaluate_many(models, words)]
        assert [float(r[f"{name}_loss"]) for r in rows] == fresh  # bit for bit


def test_report_and_data_json_say_the_data_was_generated(smoke_run):
    out, _ = smoke_run
    record = json.loads((out / "results" / "data.json").read_text())
    assert record["source"] == "generated" and record["profile"] == "smoke"
    assert record["sets"]["very_long"]["n"] == 6
    report = (out / "report.md").read_text()
    assert "Data: generated (`counting data --profile smoke --seed 0`" in report
    assert record["sha256"][:12] in report


def test_reproduction_on_given_data_equals_the_generated_one(smoke_run, tmp_path):
    """The same sets given as a directory: the sweep is reused (same data fingerprint) and
    every result is the same; only the report's data paragraph differs."""
    import shutil

    from paper_figs.data_source import given_data

    out, _ = smoke_run
    given = tmp_path / "given"
    shutil.copytree(out / "data", given)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    reproduce(copy, "smoke", seed=0, progress=False, data=given_data(given),
              figure_process=False)
    for name in ("best_models.csv", "stage_models.csv", "zigzag.csv", "failures.csv",
                 "worst_case.csv"):
        assert (copy / "results" / name).read_text() == (out / "results" / name).read_text()
    for name in ("table1.csv", "table2.csv", "failure_modes.csv"):
        assert (copy / name).read_text() == (out / name).read_text()
    record = json.loads((copy / "results" / "data.json").read_text())
    assert record["source"] == "given" and record["path"] == str(given)
    assert record["sha256"] == json.loads((out / "results" / "data.json").read_text())["sha256"]
    ours = (copy / "report.md").read_text().splitlines()
    theirs = (out / "report.md").read_text().splitlines()
    differ = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert len(ours) == len(theirs) and len(differ) == 1
    assert differ[0][0].startswith("Data: the given set files")


def test_given_data_errors_are_one_line(tmp_path, capsys):
    from counting.cli import main

    assert main(["reproduce", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such data directory" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.txt").write_text("(),10\n")
    assert main(["reproduce", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "validation.txt: required set file is missing" in err
    assert not (tmp_path / "o").exists()  # nothing started


def test_figure_worker_inline_raises_the_figures_error(tmp_path):
    from paper_figs import fig2
    from paper_figs.figure_worker import FigureWorker

    with FigureWorker(enabled=False) as figures, pytest.raises(FileNotFoundError):
        figures.submit(fig2, tmp_path)()


@pytest.mark.slow
def test_figure_worker_process_draws_and_raises(smoke_run, tmp_path):
    from paper_figs import fig2
    from paper_figs.figure_worker import FigureWorker

    out, _ = smoke_run
    with FigureWorker() as figures:
        assert figures.pool is not None
        missing = figures.submit(fig2, tmp_path)
        drawn = figures.submit(fig2, out)
        with pytest.raises(FileNotFoundError):
            missing()
        assert drawn() == [out / "fig2.png"]


# ------------------------------------------------------------ worst case (issue 10)
def _worst_row(cell, run, kind, length, fpf, max_length=1000):
    return {"cell": cell, "run": run, "epoch": 5, "kind": kind, "very_long_fpf": fpf,
            "certified_length": (max_length if length is None else length - 2),
            "shortest_failure_length": length, "shortest_failure": None if length is None
            else "( )", "position": None, "class": None, "method": "exact", "exact": True,
            "max_length": max_length}


def test_table1_worst_case_row_counts_no_failure_as_n():
    rows = [_worst_row("lstm", 0, "best", 40, 900.0), _worst_row("lstm", 1, "best", None, 950.0),
            _worst_row("lstm", 2, "stage", 2, 10.0)]  # stage models are not in Table 1
    t = {r["set"]: r for r in table1.compute([], rows)}
    row = t["shortest_failure"]
    assert (row["mean"], row["min"], row["max"]) == (520.0, 40.0, 1000.0)
    assert row["no_failure"] == 1 and row["none_failed"] is True
    md = table1.markdown(table1.compute([], rows))
    assert ">= 520.0 (40 / none <= 1000; 1 with no failure)" in md
    assert "counted as 1000" in md
    t = {r["set"]: r for r in table1.compute([], rows[:1] + rows[2:])}
    assert "40.0 (40 / 40)" in table1.markdown([t["shortest_failure"]])


def test_fig4_marks_models_with_no_failure(tmp_path):
    from paper_figs import fig4
    from paper_figs.layout import WORST_CASE_COLUMNS, write_csv

    (tmp_path / "results").mkdir()
    rows = [_worst_row("relu", 0, "stage", 34, 500.0), _worst_row("relu", 1, "stage", None, 1000.0),
            _worst_row("lstm", 0, "stage", 52, 0.0)]  # FPF 0: drawn at the floor of the axis
    write_csv(tmp_path / "results" / "worst_case.csv", WORST_CASE_COLUMNS, rows)
    import matplotlib.axes

    calls = []
    real = matplotlib.axes.Axes.scatter

    def spy(self, x, y, **kw):
        calls.append((list(x), list(y), kw.get("marker"), kw.get("label")))
        return real(self, x, y, **kw)

    matplotlib.axes.Axes.scatter = spy
    try:
        assert fig4.make(tmp_path) == [tmp_path / "fig4.png"]
    finally:
        matplotlib.axes.Axes.scatter = real
    assert (tmp_path / "fig4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    none = [c for c in calls if c[2] == "^"]
    assert len(none) == 1 and none[0][:2] == ([1000.0], [1000.0])
    assert "no failure up to 1000" in none[0][3]
    assert ([500.0], [34.0]) in [c[:2] for c in calls] and ([1.0], [52.0]) in [c[:2] for c in calls]


def test_smoke_worst_case_csv_is_verify_of_every_kept_model(smoke_run):
    from counting.checkpoint import load_checkpoint
    from paper_figs.layout import WORST_CASE_COLUMNS, read_csv
    from probes import verify

    out, _ = smoke_run
    with open(out / "results" / "worst_case.csv") as fh:
        assert tuple(csv.DictReader(fh).fieldnames) == WORST_CASE_COLUMNS
    rows = read_csv(out / "results" / "worst_case.csv")
    sel = json.loads((out / "results" / "selection.json").read_text())
    stage = read_csv(out / "results" / "stage_models.csv")
    best = [r for r in rows if r["kind"] == "best"]
    assert len(best) == 6 and len(rows) == 6 + len(stage)
    for cell, runs in sel["cells"].items():
        for r in runs:
            got = next(w for w in best if w["cell"] == cell and w["run"] == r["run"])
            assert got["epoch"] == r["best_epoch"]
            res = verify(load_checkpoint(f"{r['dir']}/best.pt")[0], 1000)
            fail = res["shortest_failure"]
            assert got["certified_length"] == res["certified_length"]
            assert got["shortest_failure_length"] == (fail and fail["length"])
            assert got["shortest_failure"] == (fail and fail["run_length"])
            assert got["method"] == res["method"] and got["max_length"] == 1000
    fpf = {(r["cell"], r["run"], r["epoch"]): r["very_long_fpf"] for r in stage}
    for w in rows:
        if w["kind"] == "stage":
            assert w["very_long_fpf"] == fpf[(w["cell"], w["run"], w["epoch"])]


def test_smoke_worst_case_row_is_in_table1_and_not_a_verdict(smoke_run):
    from paper_figs.layout import read_csv

    out, _ = smoke_run
    t1 = [r for r in read_csv(out / "table1.csv") if r["set"] == "shortest_failure"]
    assert {r["cell"] for r in t1} == {"lstm", "relu", "gru"}
    wc = read_csv(out / "results" / "worst_case.csv")
    for r in t1:
        lengths = [w["shortest_failure_length"] or w["max_length"] for w in wc
                   if w["cell"] == r["cell"] and w["kind"] == "best"]
        assert r["mean"] == pytest.approx(np.mean(lengths))
        assert (r["min"], r["max"]) == (min(lengths), max(lengths))
    assert "Shortest failing Dyck word (worst case)" in (out / "table1.md").read_text()
    report = (out / "report.md").read_text()
    assert "## Worst case over every Dyck word" in report
    assert "| not compared |" in report
    summary = report.split("## Summary")[1].split("## Table 1")[0]
    assert "Shortest" not in summary and "worst" not in summary.lower()
    n_verdicts = summary.count("\n- ")
    assert f"{n_verdicts} disagreement(s)" in summary or n_verdicts == 0
    best = [w for w in wc if w["kind"] == "best" and w["cell"] == "lstm"]
    fpf = np.mean([w["very_long_fpf"] for w in best])
    assert f"The best LSTMs fail on average at token {fpf:.0f} of the random words" in report
