"""Executors without a Ray instance: chunk planning, connecting, the --ray option, and the
one-line error when Ray is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counting import cli
from counting.chunking import chunk_target, plan_chunks
from counting.ray_executor import RAY_REQUIREMENT, RayExecutor, connect_ray
from counting.ray_gpu import split_runs


def _lpt_makespan(weights, slots):
    """Finish time of the busiest slot when each chunk, in order, goes to the least busy."""
    busy = [0.0] * slots
    for w in weights:
        busy[busy.index(min(busy))] += w
    return max(busy)


@pytest.mark.parametrize("epochs,n_chunks", [(30, 14), (10, 8)])
def test_chunks_of_the_paper_protocol_on_two_slots(epochs, n_chunks):
    paper = [[3.0 * epochs] * 10 + [2.5 * epochs] * 10 + [1.0 * epochs] * 30]  # COST x epochs
    total = sum(paper[0])
    assert chunk_target(total, total, 2, 60.0) == min(total / 4, 240.0)
    chunks = plan_chunks(paper, 2, 60.0)
    assert sorted(i for _, items in chunks for i in items) == list(range(50))
    weights = [sum(paper[0][i] for i in items) for _, items in chunks]
    assert weights == sorted(weights, reverse=True) and min(weights) >= 60
    assert len(chunks) == n_chunks
    assert _lpt_makespan(weights, 2) <= 1.05 * total / 2  # the slots end close together


def test_a_small_grid_still_uses_every_slot():
    weights = [[10.0] * 8]
    assert chunk_target(80.0, 80.0, 4, 60.0) == 20.0  # below min_weight: one chunk per slot
    assert [len(items) for _, items in plan_chunks(weights, 4, 60.0)] == [2, 2, 2, 2]


def test_a_huge_grid_caps_the_chunks_at_four_times_the_minimum():
    assert chunk_target(1e9, 1e9, 2, 60.0) == 240.0


@settings(max_examples=100, deadline=None)
@given(groups=st.lists(st.lists(st.floats(0.5, 100.0), max_size=12), min_size=1, max_size=4),
       slots=st.integers(1, 8), min_weight=st.floats(1.0, 300.0))
def test_chunks_partition_each_group_in_order(groups, slots, min_weight):
    chunks = plan_chunks(groups, slots, min_weight)
    seen = {g: [] for g in range(len(groups))}
    for g, items in chunks:
        assert items and items == list(range(items[0], items[0] + len(items)))  # consecutive
        seen[g] += items
    assert {g: sorted(v) for g, v in seen.items()} == {g: list(range(len(w)))
                                                       for g, w in enumerate(groups)}
    weights = [sum(groups[g][i] for i in items) for g, items in chunks]
    assert weights == sorted(weights, reverse=True)
    total = sum(map(sum, groups))
    if total:
        largest = chunk_target(total, total, slots, min_weight)  # targets only shrink
        floor = min(min_weight, total / slots)  # ... down to this
        heaviest = max(w for g in groups for w in g)
        assert all(w < 1.5 * largest + heaviest for w in weights)
        for g, w in enumerate(groups):  # a group that fills a chunk has none below floor/2
            mine = [x for (cg, _), x in zip(chunks, weights, strict=True) if cg == g]
            if sum(w) >= largest:
                assert min(mine) >= floor / 2


def test_gpu_shares_split_each_cell_into_consecutive_slices():
    assert split_runs((5, 1, 0), 2) == [[range(0, 2), range(0, 0), range(0, 0)],
                                        [range(2, 5), range(0, 1), range(0, 0)]]
    shares = split_runs((10, 7), 3)
    for ci, total in enumerate((10, 7)):
        assert [i for share in shares for i in share[ci]] == list(range(total))


class FakeRay:
    def __init__(self, initialized=False):
        self.initialized = initialized
        self.calls = []

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.calls.append(kwargs)


@pytest.mark.parametrize("address,env,expected", [
    (None, None, "local"), ("", None, "local"), (None, "10.0.0.1:6379", "10.0.0.1:6379"),
    ("auto", None, "auto"), ("10.0.0.2:6379", "10.0.0.1:6379", "10.0.0.2:6379")])
def test_connect_ray_resolves_the_address(monkeypatch, address, env, expected):
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    ray = FakeRay()
    assert connect_ray(ray, address, None) is True
    (call,) = ray.calls
    assert call["address"] == expected
    if expected == "local":
        assert call["num_cpus"] >= 1 and call["include_dashboard"] is False
    else:
        assert "num_cpus" not in call


def test_connect_ray_local_cpus_and_refusals(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = FakeRay()
    connect_ray(ray, None, 3)
    assert ray.calls[0]["num_cpus"] == 3
    with pytest.raises(ValueError, match="--jobs"):
        connect_ray(FakeRay(), "auto", 3)
    connected = FakeRay(initialized=True)
    assert connect_ray(connected, "auto", None) is False and connected.calls == []


def test_the_ray_option_forms():
    parser = cli.build_parser()
    base = ["sweep", "--data", "d", "--out", "o"]
    assert parser.parse_args(base).ray is None
    assert parser.parse_args([*base, "--ray"]).ray == ""
    assert parser.parse_args([*base, "--ray", "auto"]).ray == "auto"
    assert parser.parse_args([*base, "--ray", "10.0.0.1:6379", "--jobs", "2"]).ray == \
        "10.0.0.1:6379"


@pytest.fixture
def no_ray(monkeypatch):
    """`import ray` fails, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)


def test_the_install_hint_is_the_extra_of_pyproject():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert project["project"]["optional-dependencies"]["ray"] == [RAY_REQUIREMENT]


def test_without_ray_the_executor_says_how_to_install_it(no_ray):
    with pytest.raises(ValueError) as err:
        RayExecutor()
    assert "pip install -e '.[ray]'" in str(err.value) and RAY_REQUIREMENT in str(err.value)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_without_ray_the_command_fails_in_one_line(no_ray, tmp_path, capsys, device):
    code = cli.main(["sweep", "--data", str(tmp_path), "--out", str(tmp_path / "s"),
                     "--device", device, "--ray"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("counting sweep: error: Ray is not installed")
    assert "pip install -e '.[ray]'" in err
    assert not (tmp_path / "s").exists()
