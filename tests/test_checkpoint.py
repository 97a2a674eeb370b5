import pytest
import torch

from counting.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from counting.models import init_model


@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_keeps_weights_dtype_and_meta(tmp_path, cell, dtype):
    model = init_model(cell, 1, seed=3, dtype=dtype)
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, {"epoch": 4})
    loaded, meta = load_checkpoint(path)
    assert meta == {"epoch": 4} and loaded.cell == cell and loaded.dtype == dtype
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["hidden_size"] == 1
    assert raw["dtype"] == {torch.float32: "float32", torch.float64: "float64"}[dtype]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(init_model("relu"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        load_checkpoint(path)


def test_foreign_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a counting-rnns/1 checkpoint"):
        load_checkpoint(path)
    torch.save(init_model("relu").state_dict(), path)  # a bare state_dict
    with pytest.raises(CheckpointError, match="not a counting-rnns/1 checkpoint"):
        load_checkpoint(path)


def test_weights_of_the_wrong_shape(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(init_model("lstm"), path)
    raw = torch.load(path, weights_only=True)
    raw["cell"] = "gru"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="weights do not fit a gru"):
        load_checkpoint(path)
