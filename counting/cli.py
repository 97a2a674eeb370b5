"""The `counting` command line. Each command lives in a module with `register(subparsers)`,
which adds its sub-parser and sets `func`; COMMAND_MODULES lists them in --help order.

Errors a user can act on (bad input files, missing checkpoints, bad options) are printed as
one line `counting <cmd>: error: ...` with exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "counting.commands.data",
    "counting.commands.train",
    "counting.commands.eval",
    "counting.commands.sweep",
    "constructions.cli",
    "probes.cli",
    "paper_figs.cli",
)


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="counting",
        description="Train, test and diagnose single-cell RNNs that count (Dyck-1).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from counting.checkpoint import CheckpointError
    from counting.dyck import DyckError
    from counting.fileformat import DatasetFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (
        UserError,
        CheckpointError,
        DatasetFileError,
        DyckError,
        FileNotFoundError,
        ValueError,
    ) as err:
        print(f"counting {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"counting {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
