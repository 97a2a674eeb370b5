"""The first run explains the compilation: one line before numba compiles the kernels, none
once they are cached; the kernels compile before any progress bar starts (issue 13)."""

from __future__ import annotations

import pytest

from counting import firstrun
from counting.cli import main


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """No warm-up stamps: as on a fresh clone (numba's own cache may still be warm)."""
    monkeypatch.setattr(firstrun, "_stamp_dir_engine", lambda: tmp_path / "engine")
    monkeypatch.setattr(firstrun, "_stamp_dir_cells", lambda: tmp_path / "cells")
    return tmp_path


def test_the_line_comes_once_then_never(fresh, capsys):
    assert firstrun.warm_engine("train") is True
    assert capsys.readouterr().err == firstrun.ENGINE_MESSAGE + "\n"
    assert firstrun.warm_engine("train") is False
    assert capsys.readouterr().err == ""
    assert (fresh / "engine" / "warm-train-mse.stamp").is_file()


def test_an_edited_source_means_a_new_compilation(fresh, capsys, monkeypatch):
    firstrun.warm_cells()
    capsys.readouterr()
    monkeypatch.setattr(firstrun, "_key", lambda sources: "another key")
    assert firstrun.warm_cells() is True
    assert capsys.readouterr().err == firstrun.CELLS_MESSAGE + "\n"


def test_train_prints_the_line_before_its_progress_bar(fresh, tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["data", "--out", str(data), "--profile", "smoke"]) == 0
    capsys.readouterr()
    assert main(["train", "--cell", "gru", "--data", str(data), "--out", str(tmp_path / "r"),
                 "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == firstrun.ENGINE_MESSAGE
    assert "train gru" in err  # the bar, after the line
    assert err.count("compiling") == 1


def test_verify_prints_its_line_once_before_its_bar(tmp_path, monkeypatch, capsys):
    """The worst-case kernels (probes.worstcase) have their own line, printed before verify's
    progress bar and only while their stamp is missing."""
    from probes.worstcase import warmup

    monkeypatch.setattr(warmup, "STAMP_DIR", tmp_path / "worstcase")
    ckpt = tmp_path / "relu.pt"
    assert main(["construct", "--cell", "relu", "--out", str(ckpt)]) == 0
    capsys.readouterr()
    assert main(["verify", str(ckpt), "--max-length", "50"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(warmup.WORST_CASE_MESSAGE + "\n")
    assert err.count(warmup.WORST_CASE_MESSAGE) == 1
    assert (tmp_path / "worstcase" / "warm-worstcase.stamp").is_file()
    assert main(["verify", str(ckpt), "--max-length", "50"]) == 0
    assert warmup.WORST_CASE_MESSAGE not in capsys.readouterr().err
