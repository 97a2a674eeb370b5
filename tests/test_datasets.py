import errno
import os

import pytest

from counting.datasets import PROFILES, load_datasets, make_datasets, write_datasets
from counting.dyck import is_dyck


@pytest.fixture(scope="module")
def smoke():
    return make_datasets("smoke", seed=3, progress=False)


def test_sizes_and_lengths_follow_the_profile(smoke):
    prof = PROFILES["smoke"]
    assert [len(smoke[k]) for k in ("train", "validation", "long", "very_long", "zigzag")] == [
        prof.train,
        prof.validation,
        prof.long,
        prof.very_long,
        len(prof.zigzag_j),
    ]
    for name, (lo, hi) in [
        ("train", prof.short_len),
        ("validation", prof.short_len),
        ("long", prof.long_len),
    ]:
        assert all(lo <= len(w) <= hi for w in smoke[name])
    assert all(len(w) == prof.very_long_len for w in smoke["very_long"])
    assert all(len(w) == prof.zigzag_len for w in smoke["zigzag"])
    assert all(is_dyck(w) for ws in smoke.values() for w in ws)


def test_sets_are_pairwise_disjoint_and_deduplicated(smoke):
    names = list(smoke)
    for i, a in enumerate(names):
        assert len(set(smoke[a])) == len(smoke[a])
        for b in names[i + 1 :]:
            assert not set(smoke[a]) & set(smoke[b]), (a, b)


def test_same_seed_same_sets_other_seed_other_sets(smoke):
    assert make_datasets("smoke", seed=3, progress=False) == smoke
    assert make_datasets("smoke", seed=4, progress=False)["train"] != smoke["train"]


def test_paper_profile_has_the_paper_sizes():
    p = PROFILES["paper"]
    assert (p.train, p.validation, p.long, p.very_long, p.very_long_len, p.zigzag_len) == (
        10_000,
        5_000,
        5_000,
        100,
        1000,
        2000,
    )
    assert p.zigzag_j == (10, 20, 25, 50, 100, 125, 200, 250, 500, 1000)
    assert p.short_len == (2, 50) and p.long_len == (52, 100)


def test_write_and_load_round_trip(tmp_path, smoke):
    write_datasets(tmp_path, smoke)
    assert load_datasets(tmp_path) == smoke
    with pytest.raises(FileNotFoundError, match="required set file is missing"):
        load_datasets(tmp_path, ("train", "nope"), required=("nope",))
    with pytest.raises(FileNotFoundError, match="no such data directory"):
        load_datasets(tmp_path / "missing")


UNUSABLE = {  # issue 23: there, but not a readable regular file
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "dangling": (lambda p: p.symlink_to(p.with_name("nowhere")), "dangling symbolic link"),
    "fifo": (lambda p: os.mkfifo(p), r"not a regular file \(a FIFO\)"),
    "dev_zero": (lambda p: p.symlink_to("/dev/zero"), r"not a regular file \(a character device\)"),
}


@pytest.mark.parametrize("required", [(), ("train",)], ids=["optional", "required"])
@pytest.mark.parametrize("kind", UNUSABLE)
def test_a_set_file_there_but_unusable_is_refused_never_skipped(tmp_path, smoke, kind,
                                                                 required):
    write_datasets(tmp_path, smoke)
    path = tmp_path / "train.txt"
    path.unlink()
    make, reason = UNUSABLE[kind]
    make(path)
    with pytest.raises(ValueError, match=rf"^cannot read .*train\.txt: {reason}$"):
        load_datasets(tmp_path, required=required)
    # a command that does not read the set is not bothered by it
    assert load_datasets(tmp_path, ("validation", "zigzag")) == {
        k: smoke[k] for k in ("validation", "zigzag")}


def test_an_absent_set_file_is_skipped_or_missing(tmp_path, smoke):
    write_datasets(tmp_path, {k: v for k, v in smoke.items() if k != "long"})
    assert "long" not in load_datasets(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"long\.txt: required set file is missing$"):
        load_datasets(tmp_path, required=("long",))


def test_an_unreadable_set_file_is_refused_with_the_reason(tmp_path, smoke, monkeypatch):
    """No read permission (simulated: root, as in this test's CI, reads any file), and no
    permission to look the file up at all: `cannot read`, not skipped, not missing."""
    import builtins

    write_datasets(tmp_path, smoke)
    path = tmp_path / "validation.txt"
    real_open, real_lstat = builtins.open, os.lstat

    def deny(p):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))

    def fake_open(file, *a, **k):
        if os.fspath(file) == str(path):
            raise deny(file)
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    with pytest.raises(ValueError, match=r"validation\.txt: Permission denied$"):
        load_datasets(tmp_path)
    monkeypatch.setattr(builtins, "open", real_open)
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: (_ for _ in ()).throw(deny(p)) if
                        os.fspath(p) == str(path) else real_lstat(p, *a, **k))
    with pytest.raises(ValueError, match=r"validation\.txt: Permission denied$"):
        load_datasets(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without read permission")
def test_no_read_permission_for_real(tmp_path, smoke):
    write_datasets(tmp_path, smoke)
    (tmp_path / "train.txt").chmod(0)
    with pytest.raises(ValueError, match=r"train\.txt: Permission denied$"):
        load_datasets(tmp_path)


@pytest.mark.slow
def test_paper_profile_generates_disjoint_sets():
    sets = make_datasets("paper", seed=0, progress=False)
    assert len(sets["train"]) == 10_000 and len(sets["very_long"]) == 100
    assert not set(sets["train"]) & set(sets["validation"])
    # Ordered deduplication puts the short words in train, as in the authors' files.
    mean = {k: sum(map(len, sets[k])) / len(sets[k]) for k in ("train", "validation")}
    assert mean["train"] < mean["validation"]
