"""The `counting` command line. Each command lives in a module with `register(subparsers)`,
which adds its sub-parser and sets `func`; COMMAND_MODULES lists them in --help order.

Errors a user can act on (bad input files, missing checkpoints, bad options) are printed as
one line `counting <cmd>: error: ...` with exit status 2, without a traceback.
"""

from __future__ import annotations

import importlib
import sys

from counting.options import OneLineParser

COMMAND_MODULES = (
    "counting.commands.data",
    "counting.commands.train",
    "counting.commands.eval",
    "counting.commands.sweep",
    "constructions.cli",
    "probes.cli",
    "probes.verify_cli",
    "paper_figs.cli",
)


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="counting",
        description="Train, test and diagnose single-cell RNNs that count (Dyck-1).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _one_torch_thread() -> None:
    """Hidden-size-1 cells give torch's intra-op threads nothing to share: on 2 cores two
    threads made a tiny LSTM step ~10x slower. Set COUNTING_TORCH_THREADS to override."""
    import os

    import torch

    torch.set_num_threads(int(os.environ.get("COUNTING_TORCH_THREADS", "1")))


def main(argv: list[str] | None = None) -> int:
    from counting.checkpoint import CheckpointError
    from counting.dyck import DyckError
    from counting.fileformat import DatasetFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    _one_torch_thread()
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
