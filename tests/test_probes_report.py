"""probes.diagnose and `counting diagnose`: the report on exact and perturbed constructions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import constructions
import probes
from counting.checkpoint import save_checkpoint
from counting.cli import main
from counting.models import init_model
from probes import diagnose, text_summary
from probes.probesets import default_probe_sets, load_probe_sets

REQUIRED = {"cell", "unit_step", "increment", "decrement", "ratio", "drift_per_token",
            "saturation", "distance_from_ideal", "failures", "summary", "verdict"}
PNGS = ["counter.png", "steps.png", "saturation.png", "failures.png"]


def small_sets():
    """A cheap subset of the default probe sets (same kinds of words)."""
    sets = default_probe_sets()
    return {"zigzag": sets["zigzag"][:6], "nested": sets["nested"][:4],
            "very_long": sets["very_long"][:3]}


@pytest.mark.parametrize("cell", ["lstm", "relu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_constructions_report_no_failure_ratio_one_zero_drift(cell, dtype):
    model = constructions.exact_counter(cell, dtype=dtype)
    rep = diagnose(model)  # the full default probe sets
    assert REQUIRED <= set(rep)
    json.dumps(rep, allow_nan=False)  # strict JSON
    assert rep["failures"] == [] and rep["verdict"] == "no failure"
    assert rep["summary"] == {"early": 0, "at-zero": 0, "depth-dependent": 0, "other": 0}
    assert rep["unit_step"] == 1.0 and rep["ratio"] == 1.0 and rep["decrement"] == -1.0
    assert rep["drift_per_token"] == 0.0
    assert all(d == {"per_token": 0.0, "final": 0.0, "max_abs": 0.0}
               for d in rep["drift"].values())
    if cell == "lstm":
        assert set(rep["saturation"]) == {"i", "f", "g", "o"}
        for gate in ("i", "f", "g", "o"):
            s = rep["saturation"][gate]
            assert s["share_saturated"] == 1.0 and s["distance_median"] == 0.0, gate
            assert s["construction"]["share_saturated"] == 1.0
        assert rep["evidence"]["forget_shortfall"] == 0.0
    else:
        assert rep["saturation"] == {} and rep["evidence"]["w_hh_minus_1"] == 0.0
    assert rep["dtype"] == str(dtype).replace("torch.", "")


def test_relu_smaller_decrement_is_at_zero_with_the_measured_ratio():
    rep = diagnose(constructions.mismatched_relu(up=1.0, down=0.99, dtype=torch.float64),
                   small_sets())
    assert rep["verdict"] == "at-zero"
    assert rep["summary"]["at-zero"] == len(rep["failures"]) > 0
    assert rep["increment"] == pytest.approx(1.0, rel=1e-12)
    assert rep["decrement"] == pytest.approx(-0.99, rel=1e-12)
    assert rep["ratio"] == pytest.approx(0.99, rel=1e-12)
    # the measured ratio agrees with the one derived from the weights by `constructions`
    assert rep["ratio"] == pytest.approx(rep["distance_from_ideal"]["step_ratio"], rel=1e-12)
    assert rep["drift_per_token"] > 0  # the counter stays above the depth
    assert "at-zero" in rep["verdict_text"] and "0.99" in rep["verdict_text"]


def test_relu_larger_decrement_is_early():
    rep = diagnose(constructions.mismatched_relu(up=1.0, down=1.05, dtype=torch.float64),
                   small_sets())
    assert rep["verdict"] == "early" and rep["ratio"] == pytest.approx(1.05, rel=1e-12)


def test_relu_recurrent_weight_shows_in_the_evidence():
    rep = diagnose(constructions.mismatched_relu(w_hh=0.999, dtype=torch.float64),
                   small_sets())
    assert rep["evidence"]["w_hh_minus_1"] == pytest.approx(-0.001, rel=1e-9)
    assert rep["drift_per_token"] < 0  # a leaky counter falls below the depth


def test_leaky_lstm_is_early_with_its_forget_shortfall():
    eps = 1e-3
    rep = diagnose(constructions.leaky_counter("lstm", eps, dtype=torch.float64), small_sets())
    assert rep["verdict"] == "early"
    assert rep["evidence"]["forget_shortfall"] == pytest.approx(eps, rel=1e-9)
    assert rep["saturation"]["f"]["share_saturated"] == 0.0
    assert rep["saturation"]["f"]["construction"]["share_saturated"] == 1.0
    assert rep["drift_per_token"] < 0


def test_leaky_gru_report():
    eps = 0.01
    rep = diagnose(constructions.leaky_counter("gru", eps, dtype=torch.float64), small_sets())
    assert set(rep["saturation"]) == {"r", "z", "n"}
    assert "construction" not in rep["saturation"]["z"]  # no exact GRU exists
    assert rep["evidence"]["update_shortfall"] == pytest.approx(eps, rel=1e-9)
    assert rep["summary"]["depth-dependent"] > 0


def test_plots_are_written_atomically(tmp_path):
    model = constructions.mismatched_relu(down=0.99, dtype=torch.float64)
    rep = diagnose(model, small_sets(), out_dir=tmp_path / "plots")
    assert rep["plots"] == PNGS
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == sorted(PNGS)  # no temporary files left behind
    for name in PNGS:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("cell", ["lstm", "gru", "relu"])
def test_random_multi_unit_models_give_strict_json(cell, tmp_path):
    model = init_model(cell, 3, 11, torch.float64)
    rep = diagnose(model, small_sets(), out_dir=tmp_path)
    json.dumps(rep, allow_nan=False)
    assert 0 <= rep["counter_unit"] < 3
    assert "hidden size 1" in rep["distance_from_ideal"]["unavailable"]
    assert sum(rep["summary"].values()) == len(rep["failures"])
    assert text_summary(rep).count("\n") >= 4


def test_bad_probe_sets_are_named():
    model = init_model("relu", 1, 0)
    with pytest.raises(ValueError, match="'zz', sequence 1"):
        diagnose(model, {"zz": ["()", "(a)"]})
    with pytest.raises(ValueError, match="'zz', sequence 0.*negative"):
        diagnose(model, {"zz": ["())("]})
    with pytest.raises(ValueError, match="non-empty dict"):
        diagnose(model, {})


def test_cli_diagnose_writes_report_plots_and_json(tmp_path, capsys):
    ckpt = tmp_path / "exact.pt"
    save_checkpoint(constructions.exact_counter("lstm", dtype=torch.float64), ckpt)
    out, js = tmp_path / "diag", tmp_path / "rep.json"
    assert main(["diagnose", str(ckpt), "--out", str(out), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert "verdict: no failure" in text
    rep = json.loads(js.read_text())
    assert REQUIRED <= set(rep) and rep["verdict"] == "no failure"
    assert json.loads((out / "diagnosis.json").read_text()) == rep
    assert (out / "summary.txt").read_text().startswith("cell lstm")
    assert all((out / p).is_file() for p in PNGS)


def test_cli_diagnose_errors_are_one_line(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("counting diagnose: error:") and "\n" not in err
    ckpt = tmp_path / "m.pt"
    save_checkpoint(init_model("relu", 1, 0), ckpt)
    assert main(["diagnose", str(ckpt), "--data", str(tmp_path / "nodata")]) == 2
    assert "no such data directory" in capsys.readouterr().err


def test_load_probe_sets_from_a_data_directory(tmp_path):
    from counting.fileformat import write_sequences

    write_sequences(tmp_path / "zigzag.txt", ["(())", "()()"])
    sets = load_probe_sets(tmp_path)
    assert sets["zigzag"] == ["(())", "()()"] and sets["nested"] == default_probe_sets()["nested"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither zigzag.txt nor very_long.txt"):
        load_probe_sets(tmp_path / "empty")


@pytest.mark.parametrize(
    "cell", ["lstm", pytest.param("relu", marks=pytest.mark.slow),
             pytest.param("gru", marks=pytest.mark.slow)])
def test_cli_diagnose_on_a_briefly_trained_model(cell, tmp_path, capsys):
    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "diag"
    assert main(["data", "--out", str(data), "--profile", "smoke"]) == 0
    assert main(["train", "--cell", cell, "--data", str(data), "--out", str(run),
                 "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(run / "best.pt"), "--data", str(data), "--out", str(out),
                 "--json", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["cell"] == cell and rep["epoch"] in (1, 2)
    assert set(rep["sets"]) == {"zigzag", "very_long", "nested"}
    assert rep["verdict"] in ("early", "at-zero", "depth-dependent", "other", "no failure",
                              "no counter")
    n_fail = sum(rep["summary"].values())
    assert n_fail == len(rep["failures"])
    assert rep["unit_step"] is None or np.isfinite(rep["unit_step"])
    assert all((out / p).is_file() for p in PNGS)


def test_a_model_that_never_counts_fails_on_the_first_open():
    """A ReLU whose ')' output is always off fails at token 0 of every word: d = P = 1,
    which the rule calls depth-dependent; failures_on_open counts them all."""
    model = constructions.mismatched_relu(dtype=torch.float64)
    with torch.no_grad():
        model.readout.weight[1] = -1.0  # h >= 0, so the ')' logit is always <= -5
        model.readout.bias[1] = -5.0
    sets = small_sets()
    rep = diagnose(model, sets)
    n = sum(map(len, sets.values()))
    assert rep["summary"]["depth-dependent"] == n == rep["failures_on_open"]
    assert all(f["position"] == 0 and f["depth"] == f["peak"] == 1 for f in rep["failures"])
    # it classifies nothing right: no class that assumes a counter is its verdict
    assert rep["verdict"] == "no counter"
    assert "classifies nothing right" in rep["verdict_text"]


def test_a_failing_distance_from_ideal_does_not_sink_the_report(monkeypatch):
    import constructions.conditions as cond

    def broken(model):
        raise KeyError("boom")

    monkeypatch.setattr(cond, "distance_from_ideal", broken)
    with pytest.warns(RuntimeWarning, match="distance_from_ideal failed"):
        rep = diagnose(constructions.exact_counter("relu"), small_sets())
    assert "KeyError" in rep["distance_from_ideal"]["unavailable"]
    assert rep["verdict"] == "no failure"


# ------------------------------------------------------------ worst case (issue 10)
def _without_seconds(res: dict) -> dict:
    return {k: v for k, v in res.items() if k != "seconds"}


def test_worst_case_of_a_known_shortest_failure(tmp_path, capsys):
    # h' = relu(h + 1) on '(' and relu(h - 0.97) on ')', ')' allowed iff h > 1/2: a balanced
    # prefix of n pairs ends at 0.03 n, first wrong at n = 17 (0.51 > 1/2 > 0.48), so the
    # shortest failing Dyck word has 34 tokens, its last token wrong (tests/test_verify.py).
    model = constructions.mismatched_relu(up=1.0, down=0.97, dtype=torch.float64)
    rep = diagnose(model, small_sets())
    wc = rep["worst_case"]
    json.dumps(rep, allow_nan=False)
    assert _without_seconds(wc) == _without_seconds(probes.verify(model, 1000))
    assert wc["max_length"] == 1000 and wc["certified_length"] == 32 and wc["exact"]
    fail = wc["shortest_failure"]
    assert fail["length"] == 34 and fail["position"] == 33 and fail["class"] == "at-zero"
    line = (f"right on every Dyck word up to length 32; shortest word it gets wrong: "
            f"{fail['run_length']} (34 tokens), fails at token 33 (at-zero)")
    assert line in text_summary(rep).splitlines()
    # the command: the same dict as `counting verify --json`
    ckpt = tmp_path / "m.pt"
    save_checkpoint(model, ckpt)
    js, vjs = tmp_path / "d.json", tmp_path / "v.json"
    assert main(["diagnose", str(ckpt), "--json", str(js)]) == 0
    assert line in capsys.readouterr().out.splitlines()
    assert main(["verify", str(ckpt), "--json", str(vjs)]) == 0
    got, want = json.loads(js.read_text())["worst_case"], json.loads(vjs.read_text())
    assert _without_seconds(got) == _without_seconds(want)


@pytest.mark.parametrize("cell", ["lstm", "relu"])
def test_worst_case_of_an_exact_construction_is_certified_to_n(cell):
    rep = diagnose(constructions.exact_counter(cell, dtype=torch.float64), small_sets())
    wc = rep["worst_case"]
    assert wc["certified_length"] == 1000 and wc["shortest_failure"] is None
    assert wc["exact"] and wc["method"] == "exact"
    assert ("right on every Dyck word up to length 1000 (the limit checked; no word up to "
            "it is wrong)") in text_summary(rep).splitlines()


def test_worst_case_of_a_wide_model_is_labelled_a_bound():
    model = init_model("lstm", 3, 11, torch.float64)
    rep = diagnose(model, small_sets(), worst_case_length=200)
    wc = rep["worst_case"]
    assert wc["method"] == "bound" and wc["max_length"] == 200
    line = text_summary(rep).splitlines()[-1]
    assert "method: bound" in line and line.startswith("right on every Dyck word up to")
    assert "worst_case" not in diagnose(model, small_sets(), worst_case_length=None)


def test_long_curves_are_thinned_to_bin_min_and_max():
    from probes.plots import thin

    y = np.sin(np.arange(10) / 3.0)
    x, same = thin(y, max_points=20)
    assert np.array_equal(x, np.arange(10)) and np.array_equal(same, y)
    rng = np.random.default_rng(0)
    y = rng.normal(size=100_003)
    y[77_777] = 50.0  # one spike
    x, t = thin(y, max_points=1000)
    assert t.size == x.size == 1000 and np.all(np.diff(x) >= 0)
    assert t.max() == 50.0 and t.min() == y.min()
    starts = x[::2]
    for k in (0, 137, 499):
        end = starts[k + 1] if k + 1 < starts.size else y.size
        assert (t[2 * k], t[2 * k + 1]) == (y[starts[k]:end].min(), y[starts[k]:end].max())


def test_diagnosis_of_a_long_word_keeps_no_construction_trace():
    # the true counter of the failures is the depth: the same records as from the exact
    # construction's counter; and no reference trace of a long input stays cached
    from probes import classify_failures
    from probes.reference import _CACHE, true_counter
    from probes.tracing import trace_batch

    model = constructions.mismatched_relu(up=1.0, down=0.97, dtype=torch.float64)
    seqs = default_probe_sets()["zigzag"][:4]
    tr = trace_batch(model, seqs)
    assert classify_failures(model, seqs, tr=tr) == classify_failures(
        model, seqs, out=tr["out"])
    assert np.array_equal(np.where(tr.mask, tr["depth"], -1), true_counter("relu", seqs))
    word = "(" * 150_000 + ")" * 150_000
    _CACHE.clear()
    rep = diagnose(constructions.exact_counter("lstm", dtype=torch.float64), {"w": [word]},
                   worst_case_length=None)
    assert rep["verdict"] == "no failure" and not _CACHE
    assert rep["saturation"]["f"]["construction"]["share_saturated"] == 1.0
