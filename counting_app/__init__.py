"""The application layer: the `counting` command line on top of every package.

    counting  <  constructions  <  probes  <  paper_figs  <  counting_app

`counting_app.cli` holds the registry of every `counting` command - `counting`'s own, the
constructions', the probes', the paper's reproduction and the studies (capacity, remedies,
lottery, robustness-report) - and `main`, the `counting` script. Nothing below imports it
(tests/test_layering.py); `counting.cli.main` reaches it through the entry point that
pyproject.toml declares (group "counting.application").
"""

import sys


def main(argv: list[str] | None = None) -> int:
    """The `counting` script: `counting_app.cli.main`, imported here so that a Ctrl-C while
    the commands' modules are still importing (torch, numba: a second or two) prints
    `counting: interrupted` and exits 130, as an interruption later does, not a traceback."""
    try:
        from counting_app.cli import main as run
    except KeyboardInterrupt:
        print("counting: interrupted", file=sys.stderr)
        return 130
    return run(argv)
