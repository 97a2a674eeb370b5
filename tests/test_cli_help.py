"""Every argument of every command explains itself in --help (issue 13)."""

from __future__ import annotations

import argparse

import pytest

from counting.cli import main
from counting_app.cli import build_parser  # every command: the application's registry

SUB = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize("command", sorted(SUB.choices))
def test_every_argument_has_help(command):
    parser = SUB.choices[command]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.metavar
        text = (action.help or "").strip()
        assert len(text) >= 15, f"{command} {name}: help {text!r}"
        assert "see the doc" not in text.lower(), f"{command} {name}: {text!r}"


@pytest.mark.parametrize("command", sorted(SUB.choices))
def test_help_prints_no_format_escapes(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "%%" not in out and "%(" not in out
    assert out.startswith(f"usage: counting {command}")


STUDIES = {"capacity": "paper_figs.capacity", "remedies": "paper_figs.remedies",
           "lottery": "paper_figs.seed_lottery",
           "robustness-report": "paper_figs.robustness_report"}


def test_the_studies_are_counting_commands():
    assert set(STUDIES) <= set(SUB.choices)


@pytest.mark.parametrize("command", sorted(STUDIES))
def test_a_study_alias_has_the_commands_options(command, capsys):
    """`python -m paper_figs.X` builds its parser from the same arguments as `counting X`."""
    import importlib

    module = importlib.import_module(STUDIES[command])

    def options(parser):
        return [(a.dest, tuple(a.option_strings), a.default, a.help) for a in parser._actions
                if not isinstance(a, argparse._HelpAction)]

    alias = module.build_parser()
    assert options(alias) == options(SUB.choices[command])
    assert alias.prog == f"python -m {STUDIES[command]}"
    assert module.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m {STUDIES[command]}")

