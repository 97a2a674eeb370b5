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


def test_counting_cli_main_is_the_installed_application(capsys):
    """`counting.cli.main` runs the application on top (counting_app.cli, found through the
    entry point of pyproject.toml, never imported by counting): every command, the studies
    included; `counting.cli.build_parser` has `counting`'s own commands only."""
    import argparse

    from counting import cli
    from counting_app.cli import COMMANDS, build_parser
    from counting_app.cli import main as app_main

    assert cli.application() is app_main

    def commands(parser):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return list(sub.choices)

    assert commands(cli.build_parser()) == ["data", "train", "eval", "sweep"]
    everything = commands(build_parser())
    assert everything[:4] == ["data", "train", "eval", "sweep"] and len(everything) == len(
        COMMANDS)
    assert {"capacity", "remedies", "lottery", "robustness-report"} <= set(everything)
    for command in ("capacity", "remedies", "lottery", "robustness-report"):
        assert main([command, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: counting {command}")


def test_the_counting_script_is_the_application():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    # counting_app.main imports counting_app.cli itself, so that a Ctrl-C during the imports
    # is an interruption (exit 130), not a traceback
    assert project["project"]["scripts"]["counting"] == "counting_app:main"
    points = project["project"]["entry-points"]["counting.application"]
    assert points == {"main": "counting_app.cli:main"}


def test_an_interruption_while_importing_is_one_line(monkeypatch, capsys):
    """The `counting` script's Ctrl-C before the commands are imported: one line, 130."""
    import builtins

    import counting_app

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "counting_app.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert counting_app.main(["--help"]) == 130
    assert capsys.readouterr().err == "counting: interrupted\n"
