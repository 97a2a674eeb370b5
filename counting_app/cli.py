"""The `counting` command line: the registry of every command and `main` (the `counting`
script of pyproject.toml).

Each command lives in a module with `register(subparsers)`, which adds its sub-parser and
sets `func`; COMMANDS lists them in --help order. Errors a user can act on are one line
`counting <cmd>: error: ...` with exit status 2, without a traceback
(`counting.contract.run`: bad option values at parse time, paths before the command starts,
bad data and checkpoints, an OSError later on any path).

The studies are commands like the others, their options and work in their paper_figs
modules: `counting capacity` (paper_figs.capacity), `counting remedies`
(paper_figs.remedies), `counting lottery` (paper_figs.seed_lottery), `counting
robustness-report` (paper_figs.robustness_report); `python -m paper_figs.<module>` stays
an alias of each, with the same options and contract.
"""

from __future__ import annotations

import sys

from constructions import cli as construct
from counting import cli as core
from counting.contract import run
from paper_figs import capacity, remedies, robustness_cli, robustness_report, seed_lottery
from paper_figs import cli as reproduce
from probes import cli as diagnose
from probes import repair_cli, verify_cli

COMMANDS = (
    *core.COMMANDS,  # data, train, eval, sweep
    construct,
    diagnose,
    repair_cli,
    verify_cli,
    reproduce,
    robustness_cli,
    robustness_report,  # robustness-report
    capacity,
    remedies,
    seed_lottery,  # lottery
)


def build_parser():
    """The parser of every `counting` command."""
    return core.add_commands(core.new_parser(), COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (2 for bad input, with one line on stderr)."""
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
