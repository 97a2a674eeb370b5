"""The `counting` command line. Each command lives in a module with `register(subparsers)`,
which adds its sub-parser and sets `func`; COMMAND_MODULES lists them in --help order.

Errors a user can act on are printed as one line `counting <cmd>: error: ...` with exit
status 2, without a traceback - the contract, enforced here in `main`:
- bad option values: at parse time, by the type functions of `counting.options`;
- input and output paths: checked before the command starts (`counting.paths`; a command
  declares its path arguments with `declare_paths`); an OSError later on any path (a full
  disk) becomes `cannot write <path>: <reason>` / `cannot read <path>: <reason>`;
- bad data, checkpoints and other input: ValueError (DatasetFileError, CheckpointError,
  DyckError, UserError, ...) with an actionable message.
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
    "probes.repair_cli",
    "probes.verify_cli",
    "paper_figs.cli",
    "paper_figs.robustness_cli",
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
    """Run one command; returns its exit status (2 for bad input, with one line on stderr)."""
    from counting.checkpoint import CheckpointError
    from counting.dyck import DyckError
    from counting.fileformat import DatasetFileError
    from counting.paths import check_paths, describe_os_error

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a bad option (2, its one line printed)
        return done.code if isinstance(done.code, int) else 2
    _one_torch_thread()
    try:
        check_paths(args)
        return int(args.func(args) or 0)
    except (UserError, CheckpointError, DatasetFileError, DyckError, ValueError) as err:
        return _fail(args, str(err))
    except OSError as err:
        return _fail(args, describe_os_error(err, args))
    except KeyboardInterrupt:
        print(f"counting {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(args, message: str) -> int:
    """Print `counting <cmd>: error: <message>` as one line on stderr; -> exit status 2."""
    one_line = " ".join(str(message).split()) or "failed"
    print(f"counting {args.command}: error: {one_line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    # `python -m counting.cli`: run the imported module's main, so that the exception classes
    # the commands raise (counting.cli.UserError) are the ones main catches
    from counting.cli import main as _main

    sys.exit(_main())
