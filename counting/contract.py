"""The command line's error contract, shared by every entry point: the `counting` commands
(`counting_app.cli`, `counting.cli`) and the studies' `python -m paper_figs.X` aliases.

    run(parser, argv) -> exit status     parse, check the paths, run `args.func(args)`

Errors a user can act on are printed as one line `<prog>: error: ...` (`counting <cmd>:
error: ...` for a subcommand) with exit status 2, without a traceback:
- bad option values: at parse time, by the type functions of `counting.options` (the
  parser is a `counting.options.OneLineParser`);
- input and output paths: checked before the command starts (`counting.paths`; a command
  declares its path arguments with `declare_paths`); an OSError later on any path (a full
  disk) becomes `cannot write <path>: <reason>` / `cannot read <path>: <reason>`;
- bad data, checkpoints and other input: ValueError (DatasetFileError, CheckpointError,
  DyckError, UserError, ...) with an actionable message.
An interruption (Ctrl-C) prints `<prog>: interrupted` and exits with status 130.
"""

from __future__ import annotations

import sys


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def one_torch_thread() -> None:
    """Hidden-size-1 cells give torch's intra-op threads nothing to share: on 2 cores two
    threads made a tiny LSTM step ~10x slower. Set COUNTING_TORCH_THREADS to override."""
    import os

    import torch

    torch.set_num_threads(int(os.environ.get("COUNTING_TORCH_THREADS", "1")))


def prog_of(parser, args) -> str:
    """What an error line starts with: `counting sweep` for a subcommand (the parser's
    subparsers have dest "command"), the parser's prog for a parser without subcommands."""
    command = getattr(args, "command", None)
    return f"{parser.prog} {command}" if command else parser.prog


def fail(prog: str, message: str) -> int:
    """Print `<prog>: error: <message>` as one line on stderr; -> exit status 2."""
    one_line = " ".join(str(message).split()) or "failed"
    print(f"{prog}: error: {one_line}", file=sys.stderr)
    return 2


def run(parser, argv: list[str] | None = None) -> int:
    """Parse argv with `parser` (its subcommand or itself sets `func`), check the declared
    paths, run `args.func(args)`; returns its exit status (2 for bad input, with one line on
    stderr; 130 when interrupted)."""
    from counting.checkpoint import CheckpointError
    from counting.dyck import DyckError
    from counting.fileformat import DatasetFileError
    from counting.paths import check_paths, describe_os_error

    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a bad option (2, its one line printed)
        return done.code if isinstance(done.code, int) else 2
    prog = prog_of(parser, args)
    one_torch_thread()
    try:
        check_paths(args)
        return int(args.func(args) or 0)
    except (UserError, CheckpointError, DatasetFileError, DyckError, ValueError) as err:
        return fail(prog, str(err))
    except OSError as err:
        return fail(prog, describe_os_error(err, args))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
