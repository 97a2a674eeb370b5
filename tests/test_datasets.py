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


@pytest.mark.slow
def test_paper_profile_generates_disjoint_sets():
    sets = make_datasets("paper", seed=0, progress=False)
    assert len(sets["train"]) == 10_000 and len(sets["very_long"]) == 100
    assert not set(sets["train"]) & set(sets["validation"])
    # Ordered deduplication puts the short words in train, as in the authors' files.
    mean = {k: sum(map(len, sets[k])) / len(sets[k]) for k in ("train", "validation")}
    assert mean["train"] < mean["validation"]
