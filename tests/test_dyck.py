import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from counting.dyck import (
    DyckError,
    depth_profile,
    is_dyck,
    labels,
    one_hot,
    targets,
    tokens,
    validate,
)

brackets = st.text(alphabet="()", max_size=200)


def naive_depths(seq):
    d, out = 0, []
    for ch in seq:
        d += 1 if ch == "(" else -1
        out.append(d)
    return out


@given(brackets)
def test_depth_profile_matches_naive_count(seq):
    assert depth_profile(seq).tolist() == naive_depths(seq)


@given(brackets)
def test_is_dyck_matches_definition(seq):
    d = naive_depths(seq)
    assert is_dyck(seq) == (min(d, default=0) >= 0 and (not d or d[-1] == 0))


@given(brackets)
def test_targets_and_labels_follow_depth(seq):
    d = np.array(naive_depths(seq))
    if d.size and d.min() < 0:
        with pytest.raises(DyckError, match="depth goes negative"):
            targets(seq)
        return
    t = targets(seq)
    assert t.shape == (len(seq), 2)
    assert np.all(t[:, 0] == 1)
    assert np.array_equal(t[:, 1], (d > 0).astype(float))
    assert labels(seq) == "".join("1" if x > 0 else "0" for x in d)


def test_one_hot_encoding():
    assert one_hot("()").tolist() == [[1, 0], [0, 1]]
    assert tokens("(()").tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    "seq, message",
    [
        ("(a)", "non-bracket character 'a' at position 1"),
        ("(]", "non-bracket character ']' at position 1"),
        ("(é)", "non-bracket character 'é' at position 1"),
        ("())(", "depth goes negative at position 2"),
        ("((()", "final depth is 2"),
    ],
)
def test_validate_names_the_problem(seq, message):
    with pytest.raises(DyckError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(seq)


def test_validate_prefix_mode_allows_open_words():
    assert validate("((", balanced=False).tolist() == [1, 2]
    with pytest.raises(DyckError):
        validate("(((", balanced=True)


def test_non_string_input_is_rejected():
    with pytest.raises(DyckError, match="expected a bracket string"):
        validate(["(", ")"])
