"""`counting`'s own commands (data, train, eval, sweep), and `main`, the installed command
line.

The `counting` command is the application on top of every package: its registry and `main`
are `counting_app.cli` (the `counting` script of pyproject.toml), which adds the commands
of constructions, probes and paper_figs - the studies included - to the ones here. This
package imports nothing above it (tests/test_layering.py), so it finds the application the
way a plugin host does: through the entry point `main` of the group "counting.application"
that pyproject.toml declares. `main` here runs that application (so `counting.cli.main(argv)`
and `python -m counting.cli` are the full `counting` command line), or, where none is
installed, `counting`'s own commands.

Each command lives in a module with `register(subparsers)`, which adds its sub-parser and
sets `func`. The error contract (one line `counting <cmd>: error: ...`, exit status 2, no
traceback) is `counting.contract.run`.
"""

from __future__ import annotations

import sys

from counting.commands import data as _data
from counting.commands import eval as _eval
from counting.commands import sweep as _sweep
from counting.commands import train as _train
from counting.contract import UserError, run
from counting.options import OneLineParser

__all__ = ["APPLICATION_GROUP", "COMMANDS", "UserError", "add_commands", "application",
           "build_parser", "main", "new_parser"]

COMMANDS = (_data, _train, _eval, _sweep)  # counting's own, in --help order
APPLICATION_GROUP = "counting.application"  # entry point "main": the application's main


def new_parser() -> OneLineParser:
    """The `counting` parser without commands (its sub-parsers: `add_commands`)."""
    return OneLineParser(
        prog="counting",
        description="Train, test and diagnose single-cell RNNs that count (Dyck-1).",
    )


def add_commands(parser: OneLineParser, modules) -> OneLineParser:
    """Each module's `register(subparsers)`, in order, under dest "command"."""
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in modules:
        module.register(sub)
    return parser


def build_parser() -> OneLineParser:
    """The parser of `counting`'s own commands (the application's:
    `counting_app.cli.build_parser`)."""
    return add_commands(new_parser(), COMMANDS)


def application():
    """The installed application's `main(argv) -> int` (entry point "main" of the group
    APPLICATION_GROUP), or None when none is installed.

    Every distribution on sys.path is asked, not only the first of each name (as
    `entry_points()` does): a stale `counting_rnns.egg-info` in the working directory must
    not hide the installed metadata."""
    from importlib.metadata import distributions

    for dist in distributions():
        for point in dist.entry_points:
            if point.group == APPLICATION_GROUP and point.name == "main":
                found = point.load()
                if found is not main:
                    return found
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command of the installed `counting` application (or, without one, of
    `counting`'s own); returns its exit status (2 for bad input, with one line on stderr)."""
    app = application()
    if app is not None:
        return app(argv)
    return run(build_parser(), argv)


if __name__ == "__main__":
    # `python -m counting.cli`: run the imported module's main, so that the classes the
    # commands use are those of `counting.cli`, not of a second copy named __main__
    from counting.cli import main as _main

    sys.exit(_main())
