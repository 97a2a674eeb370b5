import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from counting.fileformat import DatasetFileError, atomic_path, read_sequences, write_sequences
from counting.generators import uniform_word

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
