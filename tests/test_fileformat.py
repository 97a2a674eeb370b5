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


@given(st.lists(words, max_size=20))
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
