import errno
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from counting.fileformat import DatasetFileError, atomic_path, read_sequences, write_sequences
from counting.generators import uniform_word
from counting.paths import PathError, open_regular

words = st.builds(
    lambda seed, half: uniform_word(np.random.default_rng(seed), 2 * half),
    st.integers(0, 2**31),
    st.integers(1, 40),
)


@given(st.lists(words, min_size=1, max_size=20))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_round_trip(tmp_path, seqs):
    path = tmp_path / "set.txt"
    write_sequences(path, seqs)
    assert read_sequences(path) == seqs
    lines = path.read_text().splitlines()
    assert len(lines) == len(seqs)
    for line, seq in zip(lines, seqs):
        depth = np.cumsum([1 if ch == "(" else -1 for ch in seq])
        assert line == seq + "," + "".join("1" if d > 0 else "0" for d in depth)


def test_reader_accepts_the_authors_third_field(tmp_path):
    path = tmp_path / "authors.txt"
    path.write_text("(()),1110,4,2,extra\n()(),1010,\n")
    assert read_sequences(path) == ["(())", "()()"]


@pytest.mark.parametrize(
    "line, problem",
    [
        ("(()),1111", r"line.*:2: labels disagree with sequence: label '1' at token 3"),
        ("(()),111", r":2: labels disagree with sequence: 3 labels for 4 tokens"),
        ("(x),101", r":2: bad sequence: non-bracket character 'x'"),
        ("())(,1000", r":2: bad sequence: depth goes negative at position 2"),
        ("(())", r":2: expected 'SEQ,LABELS'"),
        ("(((),1111", r":2: not a Dyck-1 word: it ends at depth 2, not 0"),
        ("((,11", r":2: not a Dyck-1 word: it ends at depth 2, not 0"),
        (",", r":2: empty sequence"),
        ("SEQ,LABELS", r":2: bad sequence: non-bracket character 'S'"),  # a header only first
    ],
)
def test_reader_rejects_corrupted_lines_with_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.txt"
    path.write_text(f"(),10\n{line}\n")
    with pytest.raises(DatasetFileError, match=problem.replace("line.*", ".*bad.txt")):
        read_sequences(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetFileError, match="no such dataset file"):
        read_sequences(tmp_path / "nope.txt")


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_an_empty_set_file_is_an_error_naming_the_file(tmp_path):
    for text in ("", "\n\n", "SEQ,LABELS\n"):
        path = tmp_path / "empty.txt"
        path.write_text(text)
        with pytest.raises(DatasetFileError, match=r"empty\.txt: the set file holds no sequence"):
            read_sequences(path)


@pytest.mark.parametrize("header", ["SEQ,LABELS", "seq,labels", "Seq , Labels", "SEQ,LABELS,x"])
def test_an_optional_header_line_is_accepted(tmp_path, header):
    path = tmp_path / "h.txt"
    path.write_text(f"{header}\n(()),1110\n")
    assert read_sequences(path) == ["(())"]
    path.write_bytes(b"\xef\xbb\xbf" + f"{header}\n(),10\n".encode())  # with a UTF-8 BOM
    assert read_sequences(path) == ["()"]


def test_a_binary_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"(),10\n\x00\xff\xfe,1\n")
    with pytest.raises(DatasetFileError, match=r"bin\.txt:2: not a text line"):
        read_sequences(path)


def test_unbalanced_words_pass_when_prefixes_are_asked_for(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("((),111\n")
    assert read_sequences(path, balanced=False) == ["(()"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_honour_the_umask(tmp_path, umask):
    from counting.fileformat import write_json_atomic, write_text_atomic

    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        write_json_atomic(tmp_path / "sub" / "b.json", {"a": 1})
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert (os.stat(tmp_path / "plain.txt").st_mode & 0o777) == want
    for p in (tmp_path / "a.txt", tmp_path / "sub" / "b.json"):
        assert (os.stat(p).st_mode & 0o777) == want, oct(os.stat(p).st_mode)


def test_rewriting_keeps_an_existing_files_mode(tmp_path):
    from counting.fileformat import write_text_atomic

    path = tmp_path / "x.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and (os.stat(path).st_mode & 0o777) == 0o640


def test_a_failed_write_names_the_target_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno
    import pathlib

    from counting.fileformat import write_text_atomic

    path = tmp_path / "x.txt"
    path.write_text("old")

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    with pytest.raises(OSError, match="No space left") as info:
        write_text_atomic(path, "new")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert os.listdir(tmp_path) == ["x.txt"] and path.read_text() == "old"


# ---- a set file that is there but cannot be read (issue 23) --------------------------------

UNUSABLE = {  # how to make it -> the reason after `cannot read <path>: `
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "dangling": (lambda p: p.symlink_to(p.with_name("nowhere")), "dangling symbolic link"),
    "fifo": (lambda p: os.mkfifo(p), r"not a regular file \(a FIFO\)"),
    "dev_zero": (lambda p: p.symlink_to("/dev/zero"), r"not a regular file \(a character device\)"),
    "dev_null": (lambda p: p.symlink_to("/dev/null"), r"not a regular file \(a character device\)"),
    "link_to_directory": (lambda p: p.symlink_to(p.parent), "is a directory"),
    "loop": (lambda p: p.symlink_to(p), "symbolic link loop"),
}


@pytest.mark.parametrize("kind", UNUSABLE)
def test_a_file_there_but_unusable_is_cannot_read_with_its_reason(tmp_path, kind):
    make, reason = UNUSABLE[kind]
    path = tmp_path / "train.txt"
    make(path)
    with pytest.raises(ValueError, match=rf"^cannot read {re.escape(str(path))}: {reason}$"):
        read_sequences(path)


def test_a_socket_is_not_a_regular_file(tmp_path):
    import socket

    path = tmp_path / "s.txt"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(PathError, match=r"s\.txt: not a regular file \(a socket\)$"):
            read_sequences(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without read permission")
def test_no_read_permission_for_real(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("(),10\n")
    path.chmod(0)
    with pytest.raises(PathError, match=r"train\.txt: Permission denied$"):
        read_sequences(path)


def test_no_read_permission_simulated(tmp_path, monkeypatch):
    """As root chmod cannot make a file unreadable: open() raising PermissionError (what a
    user without read permission gets) gives the same one reason."""
    import builtins

    path = tmp_path / "train.txt"
    path.write_text("(),10\n")
    real_open = builtins.open

    def no_permission(file, *a, **k):
        if os.fspath(file) == str(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", no_permission)
    want = rf"^cannot read {re.escape(str(path))}: Permission denied$"
    with pytest.raises(PathError, match=want):
        read_sequences(path)


def test_no_search_permission_on_the_way_is_cannot_read(tmp_path, monkeypatch):
    path = tmp_path / "train.txt"
    real_lstat = os.lstat

    def refuse(p, *a, **k):
        if os.fspath(p) == str(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))
        return real_lstat(p, *a, **k)

    monkeypatch.setattr(os, "lstat", refuse)
    with pytest.raises(PathError, match=r"train\.txt: Permission denied$"):
        read_sequences(path)


def test_a_fifo_swapped_in_after_the_stat_is_refused_without_waiting(tmp_path, monkeypatch):
    """The race: os.stat saw a regular file, then a FIFO took its place. The open must not
    wait for a writer (O_NONBLOCK) and fstat must refuse it."""
    regular, fifo = tmp_path / "regular.txt", tmp_path / "train.txt"
    regular.write_text("(),10\n")
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(
        regular if os.fspath(p) == str(fifo) else p, *a, **k))
    with pytest.raises(PathError, match=r"train\.txt: not a regular file \(a FIFO\)$"):
        read_sequences(fifo)  # would hang forever on a blocking open


def test_open_regular_says_absent_only_for_no_entry_at_all(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "nope.txt")
    (tmp_path / "ok.txt").write_text("x")
    with open_regular(tmp_path / "ok.txt") as fh:
        assert fh.read() == b"x"
        assert os.get_blocking(fh.fileno())


def test_crlf_and_byte_order_mark_are_read(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"\xef\xbb\xbfSEQ,LABELS\r\n(()),1110\r\n\r\n(),10\r\n")
    assert read_sequences(path) == ["(())", "()"]


def test_old_mac_line_endings_and_utf16_say_so(tmp_path):
    path = tmp_path / "cr.txt"
    path.write_bytes(b"(()),1110\r(),10\r")
    with pytest.raises(DatasetFileError, match=r"cr\.txt:1: a carriage return \(\\r\) inside"):
        read_sequences(path)
    path.write_bytes("(()),1110\n".encode("utf-16"))
    with pytest.raises(DatasetFileError, match=r"cr\.txt: a UTF-16 text file"):
        read_sequences(path)
    path.write_bytes(b"(()),1110,a\rthird field\r\n")  # the authors' third field: anything
    assert read_sequences(path) == ["(())"]
