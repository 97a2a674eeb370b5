"""`counting verify CKPT [--max-length N] [--json FILE]`: output, JSON file, bad input."""

from __future__ import annotations

import json

import pytest

import constructions
from counting.checkpoint import save_checkpoint
from counting.cli import main
from probes.worstcase.report import FAILURE_KEYS, KEYS


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "relu.pt"
    save_checkpoint(constructions.mismatched_relu(up=1.0, down=0.97), path)
    return path


def test_verify_prints_the_sentence_and_writes_json(mismatched, tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["verify", str(mismatched), "--max-length", "100", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "right on every Dyck word up to length 32; shortest word it gets wrong:" in text
    assert "(34 tokens), fails at token 33 (at-zero)" in text
    res = json.loads(out.read_text())
    assert tuple(res) == KEYS and tuple(res["shortest_failure"]) == FAILURE_KEYS
    assert res["max_length"] == 100 and res["certified_length"] == 32
    assert res["exact"] is True and res["method"] == "exact"


def test_no_failure_sentence(tmp_path, capsys):
    path = tmp_path / "exact.pt"
    save_checkpoint(constructions.exact_counter("relu"), path)
    assert main(["verify", str(path), "--max-length", "50"]) == 0
    assert "right on every Dyck word up to length 50 (the limit checked" in (
        capsys.readouterr().out)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("counting verify: error: "), err
    assert "Traceback" not in err
    return err


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["verify", str(bad)]) == 2
    assert "checkpoint" in one_line_error(capsys)


@pytest.mark.parametrize("n", ["1", "0", "-4", "ten"])
def test_max_length_below_2_is_refused_at_parse_time(mismatched, n, capsys):
    assert main(["verify", str(mismatched), "--max-length", n]) == 2
    assert "--max-length" in one_line_error(capsys)


def test_max_length_too_large_points_to_the_closed_form(mismatched, capsys):
    assert main(["verify", str(mismatched), "--max-length", "1000000"]) == 2
    err = one_line_error(capsys)
    assert "nested_failure_depth" in err and "(34 tokens)" in err


def test_json_into_a_missing_directory_creates_it(mismatched, tmp_path):
    # as every command's outputs (counting.fileformat.atomic_path creates parents)
    out = tmp_path / "missing" / "v.json"
    assert main(["verify", str(mismatched), "--json", str(out), "--max-length", "40"]) == 0
    assert json.loads(out.read_text())["shortest_failure"]["length"] == 34


def test_json_under_a_file_is_refused_before_work(mismatched, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["verify", str(mismatched), "--json", str(tmp_path / "f" / "v.json")]) == 2
    assert "is a file, not a directory" in one_line_error(capsys)
