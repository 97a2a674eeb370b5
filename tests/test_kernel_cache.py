"""The node-local kernel cache for distributed sweeps (`counting.jit.node`, formerly
`counting.kernel_cache`, still importable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import counting.engine  # noqa: F401  (this process holds kernels bound to its cache dir)
from counting import kernel_cache
from counting.jit import cache, node

ROOT = Path(__file__).resolve().parent.parent


def test_the_old_module_is_the_new_one():
    assert kernel_cache.prepare_process is node.prepare_process
    assert kernel_cache.warm_node_cache is node.warm_node_cache
    assert kernel_cache.kernel_counts is node.kernel_counts


def test_the_directory_is_keyed_on_the_sources(tmp_path, monkeypatch):
    """The node cache is the one cache directory: under $NUMBA_CACHE_DIR (else the temp
    dir), named after the key of every numba source (tests/test_jit.py edits them)."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "base"))
    here = node.cache_dir()
    assert here.parent == tmp_path / "base" and here.name.startswith("counting-")
    assert cache.key()[:16] in here.name
    assert node.cache_dir() == here
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert str(node.cache_dir()).startswith(str(Path(os.environ.get("TMPDIR", "/tmp"))))


def test_a_process_whose_kernels_use_another_cache_is_refused(tmp_path, monkeypatch):
    assert node.engine_imported()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # the node cache is elsewhere now
    monkeypatch.setitem(node._PREPARED, "dir", None)
    with pytest.raises(RuntimeError, match="imported before prepare_process"):
        node.prepare_process()


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
    assert (directory / node.MARKER).is_file()


def test_a_rewritten_source_makes_the_node_cache_incomplete(tmp_path, monkeypatch):
    """numba checks a kernel's source time and size: a source rewritten with the same bytes
    (a checkout) makes the node cache incomplete, so that the driver warms it again and the
    workers only load."""
    directory = tmp_path / "cache"
    directory.mkdir()
    assert not node._complete(directory)
    (directory / node.MARKER).write_text(cache.source_stamps())
    assert node._complete(directory)
    stamps = cache.source_stamps()
    monkeypatch.setattr(cache, "source_stamps",
                        lambda root=None: stamps.replace(" ", " 1", 1))  # another mtime
    assert not node._complete(directory)


def test_source_stamps_follow_modification_times(tmp_path):
    root = tmp_path / "root"
    (root / "counting" / "jit").mkdir(parents=True)
    source = root / "counting" / "jit" / "k.py"
    source.write_text("x = 1\n")
    before = cache.source_stamps(root)
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # rewritten, same bytes
    assert cache.source_stamps(root) != before
    assert cache.key(root) == cache.key(root)
