"""The node-local kernel cache for distributed sweeps (`counting.kernel_cache`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import counting.engine  # noqa: F401  (this process holds kernels bound to the default cache)
from counting import kernel_cache

ROOT = Path(__file__).resolve().parent.parent


def test_the_directory_is_keyed_on_the_engine_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "base"))
    here = kernel_cache.cache_dir()
    assert here.parent == tmp_path / "base" and here.name.startswith("engine-")
    copy = tmp_path / "engine"
    shutil.copytree(kernel_cache.ENGINE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(kernel_cache, "ENGINE", copy)
    there = kernel_cache.cache_dir()
    assert there != here  # same sources elsewhere (a clone): numba files kernels by path
    assert kernel_cache.cache_dir() == there  # same place, same sources: same directory
    (copy / "lstm.py").write_text((copy / "lstm.py").read_text() + "\n# edited\n")
    assert kernel_cache.cache_dir() != there  # an edited engine never reads stale kernels
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert str(kernel_cache.cache_dir()).startswith(str(Path(os.environ.get("TMPDIR", "/tmp"))))


def test_a_process_whose_kernels_use_another_cache_is_refused():
    assert kernel_cache.engine_imported()
    with pytest.raises(RuntimeError, match="imported before prepare_process"):
        kernel_cache.prepare_process()


PREPARE = ("import json; from counting.kernel_cache import prepare_process, kernel_counts; "
           "prepare_process(); print(json.dumps(kernel_counts()))")


@pytest.mark.slow
def test_concurrent_processes_compile_once_and_the_others_load(tmp_path):
    """Two processes prepare at once on an empty node cache: one compiles (holding the lock)
    and writes, the other waits and loads every kernel from disk. (The compiler counts
    every function it compiled, callees included; a loader only the kernels it calls.)"""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", PREPARE], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    counts = [json.loads(p.communicate(timeout=900)[0].splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    counts.sort(key=lambda c: c["compiled"])
    assert counts[0]["compiled"] == 0 and counts[0]["loaded"] > 0
    assert counts[1]["compiled"] > 0 and counts[1]["loaded"] == 0
    (directory,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (directory / kernel_cache.MARKER).is_file()


def test_a_rewritten_source_makes_the_node_cache_incomplete(tmp_path, monkeypatch):
    """numba checks a kernel's source time and size: a source rewritten with the same bytes
    (a checkout) makes the node cache incomplete, so that the driver warms it again and the
    workers only load."""

    copy = tmp_path / "engine"
    shutil.copytree(kernel_cache.ENGINE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(kernel_cache, "ENGINE", copy)
    directory = tmp_path / "cache"
    directory.mkdir()
    assert not kernel_cache._complete(directory)
    (directory / kernel_cache.MARKER).write_text(kernel_cache._stamps())
    assert kernel_cache._complete(directory)
    source = copy / "jit.py"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # rewritten, same bytes
    assert not kernel_cache._complete(directory)
