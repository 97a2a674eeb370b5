"""The first run explains the compilation: one line before numba compiles the kernels, none
once they are cached; the kernels compile before any progress bar starts (issues 13, 21).
(A fresh NUMBA_CACHE_DIR in another process: tests/test_jit.py.)"""

from __future__ import annotations

import pytest

from counting.cli import main
from counting.jit import cache, warmup


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """No warm-up stamps: as with a fresh cache directory (numba's cache may still be warm:
    this process's kernels are bound to one directory already)."""
    monkeypatch.setattr(warmup, "stamp_path", lambda kind: tmp_path / f"warm-{kind}.stamp")
    return tmp_path


def test_the_line_comes_once_then_never(fresh, capsys):
    assert warmup.warm_engine("train", cells=("relu",)) is True
    assert capsys.readouterr().err.startswith("compiling the engine's kernels once (about ")
    assert warmup.warm_engine("train", cells=("relu",)) is False
    assert capsys.readouterr().err == ""
    assert (fresh / "warm-train-relu-h1.stamp").is_file()
    assert not (fresh / "warm-train-lstm-h1.stamp").exists()  # only the cell asked for


def test_the_stamps_lie_in_the_cache_directory_numba_uses():
    assert warmup.stamp_path("cells").parent == cache.configured()


def test_a_rewritten_source_means_a_new_compilation(fresh, capsys, monkeypatch):
    """numba recompiles a kernel whose file was rewritten (another time, same bytes): the
    stamp holds the sources' times and sizes. (An edit gives another cache directory.)"""
    warmup.warm_cells()
    capsys.readouterr()
    monkeypatch.setattr(cache, "source_stamps", lambda root=None: "other times\n")
    assert warmup.warm_cells() is True
    assert capsys.readouterr().err == warmup.CELLS_MESSAGE + "\n"


def test_train_prints_the_line_before_its_progress_bar(fresh, tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["data", "--out", str(data), "--profile", "smoke"]) == 0
    capsys.readouterr()
    assert main(["train", "--cell", "gru", "--data", str(data), "--out", str(tmp_path / "r"),
                 "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("compiling the engine's kernels once (about ")
    assert "train gru" in err  # the bar, after the line
    assert err.count("compiling") == 1
    assert (fresh / "warm-train-gru-h1.stamp").is_file()


def test_verify_prints_its_line_once_before_its_bar(tmp_path, monkeypatch, capsys):
    """The worst-case kernels (probes.worstcase) have their own line, printed before verify's
    progress bar and only while their stamp is missing."""
    from probes.worstcase import warmup as worstcase

    monkeypatch.setattr(warmup, "stamp_path", lambda kind: tmp_path / f"warm-{kind}.stamp")
    ckpt = tmp_path / "relu.pt"
    assert main(["construct", "--cell", "relu", "--out", str(ckpt)]) == 0
    capsys.readouterr()
    assert main(["verify", str(ckpt), "--max-length", "50"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(worstcase.WORST_CASE_MESSAGE + "\n")
    assert err.count(worstcase.WORST_CASE_MESSAGE) == 1
    assert (tmp_path / "warm-worstcase.stamp").is_file()
    assert main(["verify", str(ckpt), "--max-length", "50"]) == 0
    assert worstcase.WORST_CASE_MESSAGE not in capsys.readouterr().err
