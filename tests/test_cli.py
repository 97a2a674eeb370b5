import json

import pytest

from counting.cli import main


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    assert main(["data", "--out", str(d), "--profile", "smoke", "--seed", "2"]) == 0
    return d


def test_data_writes_the_five_sets(data_dir):
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "dataset.json",
        "long.txt",
        "train.txt",
        "validation.txt",
        "very_long.txt",
        "zigzag.txt",
    ]


def test_train_then_eval_end_to_end(tmp_path, data_dir):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--cell",
                "relu",
                "--data",
                str(data_dir),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--engine",
                "reference",
            ]
        )
        == 0
    )
    h = json.loads((run / "history.json").read_text())
    assert len(h["epochs"]) == 1 and "seconds" in h["epochs"][0]
    out = tmp_path / "eval.json"
    assert main(["eval", str(run / "best.pt"), "--data", str(data_dir), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"train", "validation", "long", "very_long", "zigzag"}
    for v in res.values():
        assert set(v) == {"n", "accuracy", "fpf", "fully_right"}
        assert 0 <= v["accuracy"] <= 100 and 0 <= v["fully_right"] <= v["n"]


def test_errors_are_one_line_and_exit_2(tmp_path, data_dir, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", str(bad), "--data", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "counting eval: error:" in err and "truncated, corrupt" in err and "Traceback" not in err
    assert main(["eval", str(tmp_path / "none.pt"), "--data", str(data_dir)]) == 2
    assert "not found" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "train.txt").write_text("(()),1100\n")
    (corrupt / "validation.txt").write_text("(),10\n")
    assert (
        main(
            [
                "train",
                "--cell",
                "lstm",
                "--data",
                str(corrupt),
                "--out",
                str(tmp_path / "r"),
                "--epochs",
                "1",
                "--engine",
                "reference",
            ]
        )
        == 2
    )
    assert "train.txt:1: labels disagree" in capsys.readouterr().err
