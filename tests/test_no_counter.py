"""A model with no counter to diagnose gets the verdict `no counter` (issue 13): a counter
that does not move, or a model that classifies nothing right, is never given a failure class
whose explanation assumes a counter; its failure records are kept."""

from __future__ import annotations

import json

import pytest
import torch

from counting.checkpoint import save_checkpoint
from counting.cli import main
from counting.models import init_model
from probes import diagnose, text_summary
from probes.failures import CLASSES, EXPLANATION, no_counter_reason, verdict
from probes.probesets import default_probe_sets


def dead_relu(allow_close: bool):
    """A ReLU whose state is always 0 (its input never lifts the pre-activation above 0);
    its outputs are constant: ')' always allowed (allow_close) or never."""
    model = init_model("relu", 1, 0, "float64")
    with torch.no_grad():
        model.rnn.weight_ih_l0.zero_()
        model.rnn.bias_ih_l0.fill_(-1.0)
        model.rnn.bias_hh_l0.zero_()
        model.readout.weight.zero_()
        model.readout.bias[:] = torch.tensor([5.0, 5.0 if allow_close else -5.0])
    return model


def small_sets():
    sets = default_probe_sets()
    return {"zigzag": sets["zigzag"][:4], "nested": sets["nested"][:3]}


@pytest.mark.parametrize("allow_close", [True, False])
def test_a_dead_relu_has_no_counter(allow_close):
    rep = diagnose(dead_relu(allow_close), small_sets())
    assert rep["unit_step"] is None  # the counter does not move
    assert rep["verdict"] == "no counter"
    assert "counter does not move" in rep["verdict_text"]
    assert rep["verdict_text"].startswith("no counter: ")
    for cls in CLASSES:  # no class's explanation appears in the verdict
        assert EXPLANATION[cls] not in rep["verdict_text"]
    # the records stay: every sequence fails, each failure classified as before
    n = sum(map(len, small_sets().values()))
    assert len(rep["failures"]) == n == sum(rep["summary"].values())
    assert "verdict: no counter" in text_summary(rep)


def test_the_reasons_and_the_verdict_function():
    fail0 = [{"position": 0}, {"position": 0}]
    assert "does not move" in no_counter_reason(float("nan"), fail0, 2)
    assert "does not move" in no_counter_reason(None, [], 2)
    assert "classifies nothing right" in no_counter_reason(1.0, fail0, 2)
    assert no_counter_reason(1.0, fail0, 3) is None  # one sequence is fully right
    assert no_counter_reason(1.0, [{"position": 0}, {"position": 5}], 2) is None
    assert verdict({"early": 3}, "its counter does not move") == "no counter"
    assert verdict({"early": 3}) == "early"


def test_cli_diagnose_says_no_counter(tmp_path, capsys):
    save_checkpoint(dead_relu(True), tmp_path / "dead.pt")
    assert main(["diagnose", str(tmp_path / "dead.pt"), "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "verdict: no counter: its counter does not move" in out
    rep = json.loads((tmp_path / "d.json").read_text())
    assert rep["verdict"] == "no counter" and rep["failures"]
