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
        "failure_modes.csv",
        "report.md",
    }
    for name in ("fig1.png", "fig2.png", "fig3.png"):
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
        assert 0 <= lo and hi <= (100 if r["set"] != "very_long_fpf" else 200)
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
