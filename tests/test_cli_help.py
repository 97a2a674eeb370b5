"""Every argument of every command explains itself in --help (issue 13)."""

from __future__ import annotations

import argparse

import pytest

from counting.cli import build_parser, main

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
