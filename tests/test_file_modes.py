"""Every file the toolkit writes gets the permissions a plain open(path, "w") would give it:
0o666 minus the umask (0644 under umask 022), atomic writes included (issue 13)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from counting.cli import main
from counting.fileformat import atomic_path


@pytest.fixture
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _modes(root) -> dict[str, int]:
    return {os.path.relpath(os.path.join(d, f), root): os.stat(os.path.join(d, f)).st_mode & 0o777
            for d, _, files in os.walk(root) for f in files}


@pytest.mark.parametrize("umask", [0o022, 0o077], indirect=True)
def test_commands_write_files_readable_as_the_umask_says(tmp_path, umask):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["data", "--out", str(data), "--profile", "smoke"]) == 0
    assert main(["train", "--cell", "relu", "--data", str(data), "--out", str(run), "--epochs",
                 "1", "--engine", "reference"]) == 0
    assert main(["construct", "--cell", "lstm", "--out", str(tmp_path / "m.pt")]) == 0
    assert main(["eval", str(tmp_path / "m.pt"), "--data", str(data), "--json",
                 str(tmp_path / "e.json")]) == 0
    modes = _modes(tmp_path)
    assert {"data/train.txt", "run/history.json", "run/best.pt", "run/checkpoints/epoch_01.pt",
            "m.pt", "e.json"} <= set(modes)
    want = 0o666 & ~umask
    assert {p: oct(m) for p, m in modes.items() if m != want} == {}
    assert (os.stat(run / "checkpoints").st_mode & 0o777) == 0o777 & ~umask


@pytest.mark.parametrize("umask", [0o022, 0o077], indirect=True)
def test_npz_state_files_through_atomic_path(tmp_path, umask):
    """The sweep's engine state (.state.npz) is written as np.savez into atomic_path."""
    path = tmp_path / ".state.npz"
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, P=np.zeros(3))
    assert (os.stat(path).st_mode & 0o777) == 0o666 & ~umask
    assert np.load(path)["P"].shape == (3,)
