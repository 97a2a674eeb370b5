"""The studies as `counting` commands (issue 21): every study x every class of bad input gets
ONE clear line, as every other command does (tests/test_bad_input.py, whose helpers this
uses).

For every row: `counting.cli.main(argv)` returns 2; the last line on stderr is `counting
<cmd>: error: <message matching the row>`, and - for input refused before the work starts
- the ONLY line; no traceback; every file that was there is byte-identical with its mode, and
no temporary file is left. The aliases `python -m paper_figs.<module>` keep the contract
with their own prog (`python -m paper_figs.seed_lottery: error: ...`; capacity's and
remedies' rows are in test_bad_input.py).

A new study command: add its valid command line to STUDY_BASE ({new}: an empty directory,
{summary}: a GPU sweep summary, {file}, {dir}, {locked}: as in test_bad_input.py), its
numeric options to STUDY_NUMERIC and its output directory to STUDY_OUT_DIRS.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_bad_input import COUNT, SEED, _simulate, _snapshot, _temp_files, with_option

from counting.cli import main

STUDY_BASE = {
    "capacity": ["capacity", "--out", "{new}/cap", "--hidden", "1", "--runs", "1",
                 "--epochs", "1", "--profile", "smoke", "--max-length", "8", "--jobs", "1"],
    "remedies": ["remedies", "--out", "{new}/rem", "--runs", "1", "--epochs", "1",
                 "--profile", "smoke", "--max-length", "8", "--jobs", "1"],
    "lottery": ["lottery", "{summary}", "--out", "{new}/lot"],
    "robustness-report": ["robustness-report", "{new}/rob"],
}
PROFILE = ["bad", ""]
STUDY_NUMERIC = {
    "capacity": {"--hidden": ["0", "9", "x", "", "1,1", "1,,2", "-1"], "--runs": COUNT,
                 "--seed": SEED, "--jobs": COUNT, "--epochs": COUNT,
                 "--max-length": ["1", "0", "10001", "x"], "--profile": PROFILE},
    "remedies": {"--runs": COUNT, "--seed": SEED, "--jobs": COUNT, "--epochs": COUNT,
                 "--max-length": ["1", "0", "100001", "x"], "--profile": PROFILE},
    "lottery": {},
    "robustness-report": {},
}
STUDY_OUT_DIRS = {"capacity": "--out", "remedies": "--out", "lottery": "--out",
                  "robustness-report": "DIR"}
DISK_FULL = ("capacity", "remedies", "lottery")  # the first write fails (after the warm-up)


def _set(argv: list[str], opt: str, value: str) -> list[str]:
    """with_option, where opt "DIR" is the positional argument after the command name."""
    if opt == "DIR":
        return [argv[0], value, *argv[2:]]
    return with_option(argv, opt, value)


def _rows() -> list[tuple[str, str, list[str], str, str | None, bool]]:
    """(command, row id, argv, expected message regex, simulated failure, one line only)."""
    rows = []
    for cmd, base in STUDY_BASE.items():
        for opt, values in STUDY_NUMERIC[cmd].items():
            rows += [(cmd, f"{opt}={v!r}", with_option(base, opt, v), rf"argument {opt}: ",
                      None, True) for v in values]
        opt = STUDY_OUT_DIRS[cmd]
        rows += [
            (cmd, f"{opt} is a file", _set(base, opt, "{file}"),
             r"cannot write .*file\.txt: it is an existing file, not a directory", None, True),
            (cmd, f"{opt} under a file", _set(base, opt, "{file}/sub"),
             r"cannot write .*: .*file\.txt is a file, not a directory", None, True),
            (cmd, f"{opt} no permission", _set(base, opt, "{locked}/x"),
             r"cannot write .*locked/x: Permission denied", "EACCES", True),
            (cmd, f"{opt} read-only fs", _set(base, opt, "{locked}/x"),
             r"cannot write .*locked/x: Read-only file system", "EROFS", True),
        ]
        if cmd in DISK_FULL:
            rows.append((cmd, "disk full", base, r"cannot write .*: No space left on device",
                         "ENOSPC", False))
    lottery = STUDY_BASE["lottery"]
    rows += [
        ("lottery", "summary missing", _set(lottery, "DIR", "{new}/none.csv"),
         r"cannot read .*none\.csv: file not found", None, True),
        ("lottery", "summary is a directory", _set(lottery, "DIR", "{dir}"),
         r"cannot read .*adir: it is a directory, not a file", None, True),
        ("lottery", "summary not a GPU sweep's", _set(lottery, "DIR", "{file}"),
         r"file\.txt: not a GPU sweep summary, missing column", None, True),
        ("lottery", "--out missing", lottery[:2], r"the following arguments are required: --out",
         None, True),
        ("robustness-report", "no reproductions", ["robustness-report", "{dir}"],
         r"adir: no seed_<s>/report\.md", None, True),
        ("robustness-report", "DIR missing", ["robustness-report"],
         r"the following arguments are required: DIR", None, True),
    ]
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A valid GPU sweep summary, a regular file and a directory (outside the tmp_path that
    a row's simulated failures act on)."""
    from counting.gpu.sweep import SUMMARY_KEYS, write_summary

    base = tmp_path_factory.mktemp("bad_studies")
    rows = [{k: None for k in SUMMARY_KEYS} | {
        "run": run, "cell": "relu", "seed": 100 + run, "diverged": False, "epochs_done": 1,
        "very_long_fpf": fpf, "very_long_fully_right": full, "very_long_n": 4,
        "verdict": "early"} for run, (fpf, full) in enumerate([(20.0, 0), (510.0, 1)])]
    write_summary(base / "summary.csv", rows)
    (base / "file.txt").write_text("a regular file\n")
    (base / "adir").mkdir()
    return base, {"summary": base / "summary.csv", "file": base / "file.txt",
                  "dir": base / "adir", "data": base / "none", "ckpt": base / "none.pt"}


def _world(places, tmp_path):
    base, where = places
    new = tmp_path / "new"
    new.mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "old").write_text("{}\n")
    return base, {k: str(v) for k, v in where.items()} | {"new": str(new), "locked": str(locked)}


def _check(prefix, code, err, expect, one_line, before, roots):
    import re

    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith(prefix), err
    assert re.search(expect, lines[-1][len(prefix):]), f"{lines[-1]!r} !~ {expect!r}"
    if one_line:
        assert len(lines) == 1, f"more than the error line on stderr:\n{err}"
    changed = [p for p, v in before.items() if _snapshot(*roots).get(p) != v]
    assert not changed, f"files changed or removed: {changed}"
    assert not _temp_files(*roots), _temp_files(*roots)


@pytest.mark.parametrize("command, row, argv, expect, patch, one_line", ROWS,
                         ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_bad_input_to_a_study_gets_one_line(command, row, argv, expect, patch, one_line,
                                            places, tmp_path, capsys, monkeypatch):
    base, fmt = _world(places, tmp_path)
    argv = [a.format(**fmt) for a in argv]
    before = _snapshot(base, tmp_path)
    capsys.readouterr()
    if patch:
        _simulate(monkeypatch, patch, tmp_path, {})
    code = main(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    _check(f"counting {command}: error: ", code, err, expect, one_line, before,
           (base, tmp_path))


ALIASES = {  # module: (valid command line, a bad one, its message); capacity, remedies: in
    # test_bad_input.py
    "paper_figs.seed_lottery": [
        (["{file}", "--out", "{new}/lot"], r"file\.txt: not a GPU sweep summary"),
        (["{summary}", "--out", "{file}"], r"cannot write .*file\.txt: it is an existing file"),
        (["{new}/none.csv", "--out", "{new}/lot"], r"cannot read .*none\.csv: file not found"),
    ],
    "paper_figs.robustness_report": [
        (["{dir}"], r"adir: no seed_<s>/report\.md"),
        (["{file}"], r"cannot write .*file\.txt: it is an existing file, not a directory"),
    ],
}
ALIAS_ROWS = [(m, argv, expect) for m, rows in ALIASES.items() for argv, expect in rows]


@pytest.mark.parametrize("module, argv, expect", ALIAS_ROWS,
                         ids=[f"{r[0]}: {' '.join(r[1])}" for r in ALIAS_ROWS])
def test_bad_input_to_a_study_alias_gets_one_line(module, argv, expect, places, tmp_path,
                                                  capsys):
    import importlib

    base, fmt = _world(places, tmp_path)
    argv = [a.format(**fmt) for a in argv]
    before = _snapshot(base, tmp_path)
    capsys.readouterr()
    code = importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    _check(f"python -m {module}: error: ", code, err, expect, True, before, (base, tmp_path))


def test_the_tables_cover_every_command_and_every_study_class():
    """Every command of the application is in test_bad_input.py's table or in this one, and
    every study has the rows of each class that applies to it."""
    import argparse

    from test_bad_input import BASE

    from counting_app.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = set(sub.choices) - set(BASE) - set(STUDY_BASE)
    assert not missing, f"commands in no bad-input table: {missing}"
    ids = {(r[0], r[1].split("=")[0]) for r in ROWS}
    for cmd in STUDY_BASE:
        want = {(cmd, opt) for opt in STUDY_NUMERIC[cmd]}
        want |= {(cmd, f"{STUDY_OUT_DIRS[cmd]} {k}") for k in
                 ("is a file", "under a file", "no permission", "read-only fs")}
        if cmd in DISK_FULL:
            want.add((cmd, "disk full"))
        assert want <= ids, f"{cmd}: rows missing {sorted(want - ids)}"
    # every numeric option of a study is in the table
    for cmd in STUDY_BASE:
        numeric = {a.option_strings[0] for a in sub.choices[cmd]._actions
                   if a.option_strings and a.type is not None}
        assert numeric <= set(STUDY_NUMERIC[cmd]), (cmd, numeric - set(STUDY_NUMERIC[cmd]))


@pytest.mark.slow
@pytest.mark.parametrize("argv, prefix", [
    (["-m", "counting.cli", "capacity", "--out", "{file}"], "counting capacity"),
    (["-m", "counting_app", "lottery", "{file}", "--out", "{new}/lot"], "counting lottery"),
    (["-m", "paper_figs.remedies", "--out", "{file}"], "python -m paper_figs.remedies"),
    (["-m", "paper_figs.seed_lottery", "{file}", "--out", "{new}/lot"],
     "python -m paper_figs.seed_lottery"),
])
def test_a_fresh_interpreter_keeps_the_contract(argv, prefix, places, tmp_path):
    base, fmt = _world(places, tmp_path)
    argv = [a.format(**fmt) for a in argv]
    before = _snapshot(base, tmp_path)
    p = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)
    _check(f"{prefix}: error: ", p.returncode, p.stderr, r"file\.txt", True, before,
           (base, tmp_path))
