"""`counting sweep --device cuda --ray` without a GPU: a local Ray instance that declares 2
GPUs, whose workers run numba's CUDA simulator. The shares' merged summary and curves must
equal the one-GPU sweep's (run in this process, also simulated). On real GPUs this path is
untested (README)."""

from __future__ import annotations

import argparse
import csv
import logging
import os

import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is not installed; pip install -e '.[ray]' to run the Ray executor tests")

from counting.gpu.device import availability, use_simulator  # noqa: E402

if os.environ.get("NUMBA_ENABLE_CUDASIM", "1") != "0":
    use_simulator()
CUDA_OK, CUDA_WHY = availability()
pytestmark = [pytest.mark.slow, pytest.mark.cuda,
              pytest.mark.skipif(not CUDA_OK, reason=f"CUDA kernels cannot run here ({CUDA_WHY})")]

from counting.datasets import make_datasets, write_datasets  # noqa: E402
from counting.gpu.sweep import gpu_sweep  # noqa: E402
from counting.ray_gpu import ray_gpu_sweep, run_cli  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
             logging_level=logging.WARNING,
             runtime_env={"env_vars": {"NUMBA_ENABLE_CUDASIM": "1"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def sets():
    s = make_datasets("smoke", seed=1, progress=False)
    return {"train": [w for w in s["train"] if len(w) <= 14][:10],
            "validation": s["validation"][:5],
            "very_long": ["(((())))()" * 6, "(" * 20 + ")" * 20]}


def test_shares_over_two_gpus_equal_the_one_gpu_sweep(cluster, sets, tmp_path):
    one = gpu_sweep(sets, ("lstm", "relu"), (3, 1), 2, 4, out_csv=tmp_path / "one.csv",
                    curves=tmp_path / "one.npz", progress=False)
    two = ray_gpu_sweep(sets, ("lstm", "relu"), (3, 1), 2, 4, out_csv=tmp_path / "two.csv",
                        curves=tmp_path / "two.npz", progress=False)
    assert two["meta"]["ray_shares"] == [[2, 0], [1, 1]]  # run 0 of relu went to share 2
    assert two["rows"] == one["rows"]
    assert (tmp_path / "two.csv").read_text() == (tmp_path / "one.csv").read_text()
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


def test_the_command(cluster, sets, tmp_path, capsys):
    write_datasets(tmp_path / "data", sets)
    args = argparse.Namespace(data=str(tmp_path / "data"), out=str(tmp_path / "out"),
                              cells="gru", runs="3", epochs=1, seed=2, dtype="float64",
                              lr=None, loss="mse", hidden_size=1, block_size=None,
                              curves=False, run_dirs=False, ray="", jobs=None)
    assert run_cli(args) == 0
    assert "wrote" in capsys.readouterr().out
    with open(tmp_path / "out" / "summary.csv") as fh:
        assert [int(r["run"]) for r in csv.DictReader(fh)] == [0, 1, 2]
    with pytest.raises(ValueError, match="--run-dirs"):
        run_cli(argparse.Namespace(**{**vars(args), "run_dirs": True}))
