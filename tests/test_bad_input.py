"""Every command x every class of bad input gets ONE clear line (issue 13's contract).

For every row: `counting.cli.main(argv)` (in-process, fast) returns 2; the last line on
stderr is `counting <cmd>: error: <message matching the row>`, and - for input refused
before the work starts (options, paths, data, checkpoints) - it is the ONLY line; no
traceback; every file that was there before is byte-identical with the same mode, and no
temporary file is left behind.

The table is generated from a few dicts, so a new command or option is one line:

- a new command: add its valid command line to BASE (placeholders {data}, {ckpt}, {new}: a
  smoke data directory, a valid checkpoint, an empty directory for outputs), and its path
  options to OUT_DIRS / OUT_FILES / DATA_ARGS / CKPT_ARGS; the path, data, checkpoint and
  disk-full rows are then made for it;
- a new numeric option: add `"--opt": [bad values]` to NUMERIC[command] (e.g. "--clip":
  ["0", "-1", "nan", "inf", "x"], "--batch-size": ["0", "x"], "--max-length": ["1"]);
- a one-off row: append `Case(command, id, argv, expect)` to EXTRA.

Rows whose error can only come after work has started (a disk that fills up) set
`one_line=False`: progress bars may precede the error line, which must still be last.
Real read-only / immutable / full file systems are tried too (a bind mount, chattr +i, a
tiny tmpfs: root is needed, so chmod is no test here); each skips with its reason where the
mechanism is unavailable. Simulated ones (monkeypatched os calls) always run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pytest
import torch

from counting.cli import main

# ---- the table's sources -------------------------------------------------------------------

BASE = {
    "data": ["data", "--out", "{new}/d", "--profile", "smoke"],
    "train": ["train", "--cell", "relu", "--data", "{data}", "--out", "{new}/r", "--epochs", "1",
              "--engine", "reference"],
    "eval": ["eval", "{ckpt}", "--data", "{data}"],
    "sweep": ["sweep", "--data", "{data}", "--out", "{new}/s", "--cells", "relu", "--runs", "1",
              "--epochs", "1", "--jobs", "1"],
    "construct": ["construct", "--cell", "lstm", "--out", "{new}/m.pt"],
    "diagnose": ["diagnose", "{ckpt}", "--data", "{data}"],
    "reproduce": ["reproduce", "--out", "{new}/rep", "--profile", "smoke", "--jobs", "1",
                  "--data", "{data}"],
    "repair": ["repair", "{ckpt}", "--out", "{new}/fixed.pt", "--max-length", "20",
               "--data", "{data}"],
    "verify": ["verify", "{ckpt}", "--max-length", "20"],
    "robustness": ["robustness", "--seeds", "0:1", "--out", "{new}/rob", "--profile", "smoke",
                   "--jobs", "1", "--data", "{data}"],
}
NUMBER = ["x", ""]  # not a number at all
LR = ["nan", "inf", "-inf", "0", "-1", *NUMBER]
COUNT = ["0", "-1", "1.5", *NUMBER]  # an integer >= 1
SEED = ["-1", "1.5", str(2**64), *NUMBER]
TRAINING = {  # the training options of `train` and `sweep` (issue 11)
    "--init-noise": ["-1", "nan", "inf", *NUMBER], "--forget-bias": ["nan", "inf", *NUMBER],
    "--clip": ["0", "-1", "nan", "inf", *NUMBER], "--batch-size": ["0", "-1", "1.5", *NUMBER],
    "--weight-decay": ["-1", "nan", "inf", *NUMBER], "--l1": ["-1", "nan", "inf", *NUMBER],
}
PROTOCOL = {  # the authors'-protocol switches of train, sweep, reproduce, robustness (issue 22)
    "--protocol": ["bad", "Authors", ""], "--selection": ["bad", "min", ""],
    "--sessions": ["bad", "2", ""], "--stage-epochs": ["bad", "1,6", ""],
}
NUMERIC = {
    "data": {"--seed": SEED, "--train-lengths": ["1-50", "50-2", "2-", "3", "a-b", ""]},
    "train": {"--epochs": COUNT, "--lr": LR, "--hidden-size": ["0", "9", *NUMBER],
              "--seed": SEED, **TRAINING, **PROTOCOL},
    "eval": {},
    "sweep": {"--runs": ["0", "1,0", "-1", "1,,1", "1.5", *NUMBER], "--epochs": COUNT, "--lr": LR,
              "--jobs": COUNT, "--seed": SEED, "--hidden-size": ["0", "9"],
              "--block-size": ["0", "1025", "x"], "--cells": ["tanh", "lstm,lstm", ""],
              **TRAINING, **PROTOCOL},
    "construct": {"--eps": ["0", "1", "-0.5", "1.5", "nan", "inf", *NUMBER],
                  "--hidden-size": ["0", "9", *NUMBER]},
    "diagnose": {},
    "reproduce": {"--seed": SEED, "--jobs": COUNT, "--hidden-size": ["0", "9", *NUMBER],
                  **PROTOCOL},
    "repair": {"--max-length": ["1", "0", "-2", *NUMBER]},
    "verify": {"--max-length": ["1", "0", "-2", *NUMBER]},
    "robustness": {"--seeds": ["5:5", "3:1", "-1:2", "1:", ":3", "1:2:3", "0:100001", "x", ""],
                   "--jobs": COUNT, "--profile": ["bad", ""], **PROTOCOL},
}
OUT_DIRS = {"data": "--out", "train": "--out", "sweep": "--out", "diagnose": "--out",
            "reproduce": "--out", "robustness": "--out"}
OUT_FILES = {"eval": "--json", "diagnose": "--json", "construct": "--out", "repair": "--out",
             "verify": "--json"}
DATA_ARGS = {"train": "--data", "eval": "--data", "sweep": "--data", "diagnose": "--data",
             "reproduce": "--data", "repair": "--data", "robustness": "--data"}
CKPT_ARGS = {"eval": "{ckpt}", "diagnose": "{ckpt}", "repair": "{ckpt}", "verify": "{ckpt}"}

# data directories where EVERY set file holds the same bad content (each command reads a
# different subset of the files, so each hits the error on its first read)
BAD_DATA = {
    "unbalanced": ("(((),1111\n", r"\.txt:1: not a Dyck-1 word: it ends at depth 2, not 0"),
    "labels": ("(()),1111\n", r"\.txt:1: labels disagree with sequence"),
    "bracket": ("(x),101\n", r"\.txt:1: bad sequence: non-bracket character 'x'"),
    "negative": ("())(,1000\n", r"\.txt:1: bad sequence: depth goes negative"),
    "empty": ("", r"\.txt: the set file holds no sequence"),
    "binary": (b"\x00\x9f\xff,1\n", r"\.txt:1: not a text line"),
    "no_labels": ("(())\n", r"\.txt:1: expected 'SEQ,LABELS'"),
}
# data directories where EVERY set file is there but is not a readable regular file (issue
# 23): each is refused as `cannot read DIR/<set>.txt: <reason>`, never skipped, never called
# missing, and a FIFO or device is never opened and waited on
UNUSABLE = {
    "a directory": r"cannot read .*/\w+\.txt: is a directory",
    "a dangling symlink": r"cannot read .*/\w+\.txt: dangling symbolic link",
    "a FIFO": r"cannot read .*/\w+\.txt: not a regular file \(a FIFO\)",
    "a symlink to /dev/zero": r"cannot read .*/\w+\.txt: not a regular file \(a character device\)",
    "no read permission": r"cannot read .*/\w+\.txt: Permission denied",
}
AS_ROOT = os.geteuid() == 0  # root reads a file without read permission: chmod is no test


def _make_unusable(path: pathlib.Path, kind: str) -> None:
    """Put at `path` a set file that is there but cannot be read, of UNUSABLE's `kind`."""
    if kind == "a directory":
        path.mkdir()
    elif kind == "a dangling symlink":
        path.symlink_to(path.with_name(f"nowhere-{path.name}"))
    elif kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "no read permission":
        path.write_text("(()),1100\n")
        path.chmod(0)
    else:  # pragma: no cover
        raise ValueError(kind)


BAD_CKPT = {
    "missing": (None, r"cannot read .*: file not found"),
    "directory": ("dir", r"cannot read .*: it is a directory, not a file"),
    "garbage": (b"not a checkpoint", r"not a readable checkpoint .*truncated, corrupt"),
    "empty": (b"", r"not a readable checkpoint"),
    "foreign": ("foreign", r"not a counting-rnns/1 checkpoint"),
    "shapes": ("shapes", r"weights do not fit"),
    # there but not a readable regular file: refused before it is opened (a FIFO is never
    # waited on)
    "fifo": ("fifo", r"cannot read .*ckpt_fifo\.pt: not a regular file \(a FIFO\)"),
    "dangling_symlink": ("dangling", r"cannot read .*: dangling symbolic link"),
    "nan_weights": ("nan", r"weights are not finite \(NaN or inf in rnn\.weight_ih_l0"),
    "pickled_module": ("module", r"a pickled Python object \(torch\.save\(model\)\?\), not a "
                       r"counting-rnns/1 checkpoint"),
    "symlink_to_dev_zero": ("zero", r"cannot read .*: not a regular file \(a character device\)"),
}


@dataclass
class Case:
    command: str
    id: str
    argv: list[str]
    expect: str  # a regex the error message must match
    one_line: bool = True  # False: refused after work started (bars may precede the line)
    patch: str | None = None  # name of a simulated failure (see _simulate)
    subprocess: bool = False  # run `python -m counting.cli` instead (fresh interpreter)
    skip: str | None = None  # a reason to skip the row (e.g. chmod is no test as root)
    env: dict = field(default_factory=dict)  # for a subprocess: {name: value, or None: unset}


def with_option(argv: list[str], opt: str, value: str) -> list[str]:
    """argv with `opt` set to `value` (replaced where present, else appended)."""
    argv = list(argv)
    if opt in argv:
        argv[argv.index(opt) + 1] = value
    else:
        argv += [opt, value]
    return argv


def _slug(kind: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in kind)


def _cases() -> list[Case]:
    out = []
    for cmd, base in BASE.items():
        for opt, values in NUMERIC[cmd].items():
            for v in values:
                out.append(Case(cmd, f"{opt}={v!r}", with_option(base, opt, v),
                                rf"argument {opt}: "))
        if cmd in OUT_DIRS:
            opt = OUT_DIRS[cmd]
            out += [
                Case(cmd, f"{opt} is a file", with_option(base, opt, "{file}"),
                     r"cannot write .*file\.txt: it is an existing file, not a directory"),
                Case(cmd, f"{opt} under a file", with_option(base, opt, "{file}/sub"),
                     r"cannot write .*: .*file\.txt is a file, not a directory"),
                Case(cmd, f"{opt} no permission", with_option(base, opt, "{locked}/x"),
                     r"cannot write .*locked/x: Permission denied", patch="EACCES"),
                Case(cmd, f"{opt} read-only fs", with_option(base, opt, "{locked}/x"),
                     r"cannot write .*locked/x: Read-only file system", patch="EROFS"),
            ]
        if cmd in OUT_FILES:
            opt = OUT_FILES[cmd]
            out += [
                Case(cmd, f"{opt} is a directory", with_option(base, opt, "{dir}"),
                     r"cannot write .*adir: it is a directory"),
                Case(cmd, f"{opt} under a file", with_option(base, opt, "{file}/x.out"),
                     r"cannot write .*: .*file\.txt is a file, not a directory"),
                Case(cmd, f"{opt} no permission", with_option(base, opt, "{locked}/x.out"),
                     r"cannot write .*locked/x\.out: Permission denied", patch="EACCES"),
                Case(cmd, f"{opt} read-only fs", with_option(base, opt, "{locked}/x.out"),
                     r"cannot write .*locked/x\.out: Read-only file system", patch="EROFS"),
            ]
        if cmd in OUT_DIRS or cmd in OUT_FILES:  # the disk fills up at the first write
            argv = base
            if cmd == "eval":
                argv = with_option(base, "--json", "{new}/e.json")
            if cmd == "verify":
                argv = with_option(base, "--json", "{new}/v.json")
            if cmd == "diagnose":  # --json: no plots to draw first (--out: the real test)
                argv = with_option(base, "--json", "{new}/d.json")
            out.append(Case(cmd, "disk full", argv,
                            r"cannot write .*: No space left on device", one_line=False,
                            patch="ENOSPC"))
        if cmd in DATA_ARGS:
            opt = DATA_ARGS[cmd]
            out += [
                Case(cmd, f"{opt} missing", with_option(base, opt, "{new}/nowhere"),
                     r"cannot read .*nowhere: no such data directory"),
                Case(cmd, f"{opt} is a file", with_option(base, opt, "{file}"),
                     r"cannot read .*file\.txt: it is a file, not a directory"),
                Case(cmd, f"{opt} is a FIFO", with_option(base, opt, "{fifo}"),
                     r"cannot read .*a_fifo: not a directory \(a FIFO\)"),
                Case(cmd, f"{opt} is a dangling symlink", with_option(base, opt, "{dangling}"),
                     r"cannot read .*a_dangling_link: dangling symbolic link"),
            ]
            out.append(Case(cmd, "data unreadable", base,
                            r"cannot read .*data/\w+\.txt: Permission denied",
                            patch="EACCES_DATA"))
            for name, (_, expect) in BAD_DATA.items():
                out.append(Case(cmd, f"data {name}", with_option(base, opt, f"{{bad_{name}}}"),
                                expect))
            for kind, expect in UNUSABLE.items():
                skip = ("running as root, which reads a file without read permission (the "
                        "simulated 'data unreadable' row and test_datasets cover the reason)"
                        if kind == "no read permission" and AS_ROOT else None)
                out.append(Case(cmd, f"set file: {kind}",
                                with_option(base, opt, f"{{unusable_{_slug(kind)}}}"), expect,
                                skip=skip))
        if cmd in CKPT_ARGS:
            for name, (_, expect) in BAD_CKPT.items():
                argv = [f"{{ckpt_{name}}}" if a == CKPT_ARGS[cmd] else a for a in base]
                out.append(Case(cmd, f"checkpoint {name}", argv, expect))
            out.append(Case(cmd, "checkpoint unreadable", base,
                            r"cannot read .*model\.pt: Permission denied", patch="EACCES_CKPT"))
    return out + EXTRA


EXTRA = [
    Case("sweep", "--runs count for cells", with_option(BASE["sweep"], "--runs", "1,2"),
         r"--runs gives 2 counts for 1 cells"),
    Case("sweep", "--device cuda without a GPU",
         with_option(BASE["sweep"], "--device", "cuda"), r"--device cuda: no usable GPU",
         subprocess=True, env={"NUMBA_ENABLE_CUDASIM": None}),
    Case("construct", "gru needs --eps", with_option(BASE["construct"], "--cell", "gru"),
         r"a GRU cannot count exactly: give --eps"),
    Case("train", "--engine fast on float32",
         with_option(with_option(BASE["train"], "--engine", "fast"), "--dtype", "float32"),
         r"--engine fast: .*use --engine reference"),
    Case("eval", "--data without set files", with_option(BASE["eval"], "--data", "{dir}"),
         r"no set files"),
    Case("train", "--data without train.txt", with_option(BASE["train"], "--data", "{dir}"),
         r"train\.txt: required set file is missing"),
    # the other sets fine, one optional set file there but unusable: refused, not skipped
    *[Case(cmd, "only long.txt is a FIFO", with_option(BASE[cmd], "--data", "{partly_fifo}"),
           r"cannot read .*partly_fifo/long\.txt: not a regular file \(a FIFO\)")
      for cmd in ("eval", "train", "sweep")],
    Case("eval", "--json is the checkpoint", with_option(BASE["eval"], "--json", "{ckpt}"),
         r"cannot write .*model\.pt: it is also an input of this command"),
    Case("diagnose", "--json is the checkpoint",
         with_option(BASE["diagnose"], "--json", "{ckpt}"),
         r"cannot write .*model\.pt: it is also an input of this command"),
    Case("train", "--init irnn on an lstm",
         with_option(with_option(BASE["train"], "--cell", "lstm"), "--init", "irnn"),
         r"--init irnn .* relu cell only"),
    Case("train", "--init-noise without construction",
         with_option(BASE["train"], "--init-noise", "0.1"),
         r"--init-noise applies only with --init construction"),
    Case("sweep", "--forget-bias on relu", with_option(BASE["sweep"], "--forget-bias", "5"),
         r"--forget-bias applies to the lstm cell only"),
    Case("train", "--init construction on a gru",
         with_option(with_option(BASE["train"], "--cell", "gru"), "--init", "construction"),
         r"no exact gru counter"),
    Case("data", "--from-authors not a clone",
         [*BASE["data"], "--from-authors", "{dir}"], r"Dyck1_Dataset_Suzgun_train_\.txt"),
    Case("data", "--from-authors missing", [*BASE["data"], "--from-authors", "{new}/nowhere"],
         r"nowhere: no such directory"),
    Case("verify", "--max-length too large",
         with_option(BASE["verify"], "--max-length", "1000000"), r"closed-form|nested"),
    Case("repair", "a gru is refused", [*BASE["repair"][:1], "{ckpt_gru}",
                                        *BASE["repair"][2:]], r"a GRU cannot count exactly"),
    Case("repair", "--json is the checkpoint",
         with_option(BASE["repair"], "--json", "{ckpt}"),
         r"cannot write .*model\.pt: it is also an input of this command"),
    Case("robustness", "--seeds missing", [a for a in BASE["robustness"] if a not in
                                           ("--seeds", "0:1")],
         r"the following arguments are required: --seeds"),
    Case("robustness", "--data without set files",
         with_option(BASE["robustness"], "--data", "{dir}"), r"train\.txt: required set file"),
    Case("eval", "--json exists read-only", with_option(BASE["eval"], "--json", "{locked}/old"),
         r"cannot write .*locked/old: Permission denied", patch="EACCES"),
]
CASES = _cases()


# ---- fixtures: a valid world, and bad things beside it -------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input")
    data = base / "data"
    assert main(["data", "--out", str(data), "--profile", "smoke", "--seed", "1"]) == 0
    ckpt = base / "model.pt"
    assert main(["construct", "--cell", "relu", "--out", str(ckpt)]) == 0
    assert main(["construct", "--cell", "gru", "--eps", "0.01",
                 "--out", str(base / "gru.pt")]) == 0
    places = {"data": data, "ckpt": ckpt, "file": base / "file.txt", "dir": base / "adir",
              "ckpt_gru": base / "gru.pt"}
    places["file"].write_text("a regular file\n")
    places["fifo"], places["dangling"] = base / "a_fifo", base / "a_dangling_link"
    os.mkfifo(places["fifo"])
    places["dangling"].symlink_to(base / "nowhere")
    places["dir"].mkdir()
    for name, (content, _) in BAD_DATA.items():
        d = base / f"bad_{name}"
        d.mkdir()
        for stem in ("train", "validation", "long", "very_long", "zigzag"):
            p = d / f"{stem}.txt"
            p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
        places[f"bad_{name}"] = d
    places["partly_fifo"] = base / "partly_fifo"
    shutil.copytree(data, places["partly_fifo"])
    (places["partly_fifo"] / "long.txt").unlink()
    os.mkfifo(places["partly_fifo"] / "long.txt")
    for kind in UNUSABLE:
        d = base / f"unusable_{_slug(kind)}"
        d.mkdir()
        for stem in ("train", "validation", "long", "very_long", "zigzag"):
            _make_unusable(d / f"{stem}.txt", kind)
        places[f"unusable_{_slug(kind)}"] = d
    for name, (content, _) in BAD_CKPT.items():
        p = base / f"ckpt_{name}.pt"
        if content == "dir":
            p.mkdir()
        elif content == "fifo":
            os.mkfifo(p)
        elif content == "dangling":
            p.symlink_to(base / "no-such-checkpoint.pt")
        elif content == "zero":
            p.symlink_to("/dev/zero")
        elif content == "nan":
            payload = torch.load(ckpt, weights_only=True)
            payload["state_dict"] = {k: torch.full_like(v, float("nan"))
                                     for k, v in payload["state_dict"].items()}
            torch.save(payload, p)
        elif content == "module":
            from counting.checkpoint import load_checkpoint

            torch.save(load_checkpoint(ckpt)[0], p)  # the whole module pickled
        elif content == "foreign":
            torch.save({"weights": torch.zeros(3)}, p)
        elif content == "shapes":
            payload = torch.load(ckpt, weights_only=True)
            payload["hidden_size"] = 2
            torch.save(payload, p)
        elif content is not None:
            p.write_bytes(content)
        places[f"ckpt_{name}"] = p
    return base, places


def _snapshot(*roots) -> dict:
    """{path: (sha256 of the bytes, mode)} of every file under the roots; a symbolic link is
    recorded by its target, a FIFO or device by its mode only (never opened), a file that
    cannot be read by its mode only."""
    import stat

    snap = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    snap[p] = (os.readlink(p), st.st_mode)
                elif not stat.S_ISREG(st.st_mode):
                    snap[p] = (None, st.st_mode)
                else:
                    try:
                        with open(p, "rb") as fh:
                            snap[p] = (hashlib.sha256(fh.read()).hexdigest(), st.st_mode)
                    except PermissionError:
                        snap[p] = (None, st.st_mode)
    return snap


def _temp_files(*roots) -> list[str]:
    return [os.path.join(d, f) for root in roots for d, _, fs in os.walk(root) for f in fs
            if f.endswith(".tmp") or f.startswith(".counting-probe-")]


_REAL_OPEN, _REAL_MKDIR, _REAL_REPLACE = os.open, os.mkdir, os.replace
_REAL_WRITE_TEXT, _REAL_WRITE_BYTES = pathlib.Path.write_text, pathlib.Path.write_bytes
_REAL_BUILTIN_OPEN, _REAL_PATH_OPEN = open, pathlib.Path.open


def _simulate(monkeypatch, kind: str, root: pathlib.Path, places: dict) -> None:
    """EACCES / EROFS: creating anything under `root/locked` fails (as on a directory without
    write permission, or a read-only file system); ENOSPC: every write of file content under
    `root` fails as on a full disk; EACCES_DATA / EACCES_CKPT: the world's data files / its
    checkpoint cannot be opened (as without read permission, which root would not feel)."""
    locked = str(root / "locked")
    if kind in ("EACCES_DATA", "EACCES_CKPT"):
        data, ckpt = str(places["data"]) + os.sep, str(places["ckpt"])

        def check(path):
            p = os.fspath(path) if isinstance(path, (str, os.PathLike)) else ""
            if (p.startswith(data) if kind == "EACCES_DATA" else p == ckpt):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), p)

        def fake_open(file, *a, **k):
            check(file)
            return _REAL_BUILTIN_OPEN(file, *a, **k)

        def fake_path_open(self, *a, **k):
            check(self)
            return _REAL_PATH_OPEN(self, *a, **k)

        monkeypatch.setattr("builtins.open", fake_open)
        monkeypatch.setattr(pathlib.Path, "open", fake_path_open)
    elif kind in ("EACCES", "EROFS"):
        code = getattr(errno, kind)

        def refuse(path):
            raise OSError(code, os.strerror(code), os.fspath(path))

        def fake_open(path, flags, *a, **k):
            if os.fspath(path).startswith(locked) and flags & (os.O_CREAT | os.O_WRONLY):
                refuse(path)
            return _REAL_OPEN(path, flags, *a, **k)

        def fake_mkdir(path, *a, **k):
            if os.fspath(path).startswith(locked + os.sep):
                refuse(path)
            return _REAL_MKDIR(path, *a, **k)

        def fake_replace(src, dst, *a, **k):
            if os.fspath(dst).startswith(locked):
                refuse(dst)
            return _REAL_REPLACE(src, dst, *a, **k)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)
        monkeypatch.setattr(os, "replace", fake_replace)
        # a plain open(..., "w") of an existing file there would fail too: os.access says so
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if (
            os.fspath(p).startswith(locked) and m & os.W_OK) else real_access(p, m, *a, **k))
    elif kind == "ENOSPC":

        def full(real):
            def write(self, *a, **k):
                if str(self).startswith(str(root)):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real(self, *a, **k)
            return write

        monkeypatch.setattr(pathlib.Path, "write_text", full(_REAL_WRITE_TEXT))
        monkeypatch.setattr(pathlib.Path, "write_bytes", full(_REAL_WRITE_BYTES))
    else:  # pragma: no cover
        raise ValueError(kind)


def _run(case: Case, argv: list[str], capsys) -> tuple[int, str]:
    if case.subprocess:
        env = dict(os.environ)
        for key, value in case.env.items():  # None: unset
            env.pop(key, None) if value is None else env.__setitem__(key, value)
        p = subprocess.run([sys.executable, "-m", "counting.cli", *argv], capture_output=True,
                           text=True, env=env, timeout=300)
        return p.returncode, p.stderr
    code = main(argv)
    return code, capsys.readouterr().err


def check_refused(case: Case, code: int, err: str, before: dict, roots) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    assert lines, "nothing on stderr"
    last = lines[-1]
    prefix = f"counting {case.command}: error: "
    assert last.startswith(prefix), last
    import re

    assert re.search(case.expect, last[len(prefix):]), f"{last!r} !~ {case.expect!r}"
    if case.one_line:
        assert len(lines) == 1, f"more than the error line on stderr:\n{err}"
    after = _snapshot(*roots)
    changed = [p for p, v in before.items() if after.get(p) != v]
    assert not changed, f"files changed or removed: {changed}"
    assert not _temp_files(*roots), _temp_files(*roots)


def _param(case: Case):  # a fresh interpreter costs seconds: such rows are slow tests
    marks = [pytest.mark.slow] if case.subprocess else []
    if case.skip:
        marks.append(pytest.mark.skip(reason=case.skip))
    return pytest.param(case, id=f"{case.command}: {case.id}", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_gets_one_line(case, world, tmp_path, capsys, monkeypatch):
    base, places = world
    new = tmp_path / "new"
    new.mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "old").write_text("{}\n")
    fmt = {k: str(v) for k, v in places.items()} | {"new": str(new), "locked": str(locked)}
    argv = [a.format(**fmt) for a in case.argv]
    capsys.readouterr()
    before = _snapshot(base, tmp_path)
    if case.patch:
        _simulate(monkeypatch, case.patch, tmp_path, places)
    code, err = _run(case, argv, capsys)
    monkeypatch.undo()
    check_refused(case, code, err, before, (base, tmp_path))


def test_the_table_covers_every_command_and_class():
    """Every command of the CLI is in the table, with each class that applies to it."""
    from counting.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    missing = set(sub.choices) - set(BASE)
    assert not missing, f"commands missing from the table (add them to BASE): {missing}"
    ids = {(c.command, c.id.split("=")[0]) for c in CASES}
    for cmd in BASE:
        want = {(cmd, opt) for opt in NUMERIC[cmd]}
        if cmd in OUT_DIRS or cmd in OUT_FILES:
            want.add((cmd, "disk full"))
        if cmd in OUT_DIRS:
            want |= {(cmd, f"{OUT_DIRS[cmd]} {k}") for k in
                     ("is a file", "under a file", "no permission", "read-only fs")}
        if cmd in OUT_FILES:
            want |= {(cmd, f"{OUT_FILES[cmd]} {k}") for k in
                     ("is a directory", "under a file", "no permission", "read-only fs")}
        if cmd in DATA_ARGS:
            want |= {(cmd, f"data {k}") for k in BAD_DATA}
            want |= {(cmd, f"set file: {k}") for k in UNUSABLE}
        if cmd in CKPT_ARGS:
            want |= {(cmd, f"checkpoint {k}") for k in BAD_CKPT}
        assert want <= ids, want - ids
        assert any(c == cmd for c, _ in ids)
    # every option of every command that takes a number is in NUMERIC
    for cmd, p in sub.choices.items():
        typed = {a.option_strings[0] for a in p._actions
                 if a.option_strings and a.type not in (None, str)}
        assert typed <= set(NUMERIC[cmd]), (cmd, typed - set(NUMERIC[cmd]))


# ---- real read-only, immutable and full file systems (skipped where unavailable) -----------


def _try(cmd: list[str]) -> str | None:
    """None if the command succeeded, else its error text."""
    if shutil.which(cmd[0]) is None:
        return f"{cmd[0]} is not installed"
    p = subprocess.run(cmd, capture_output=True, text=True)
    return None if p.returncode == 0 else (p.stderr.strip() or f"exit {p.returncode}")


@pytest.fixture
def readonly_dir(tmp_path):
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    (src / "old.json").write_text("{}\n")
    why = _try(["mount", "--bind", "-o", "ro", str(src), str(ro)])
    if why:
        pytest.skip(f"a read-only bind mount is not possible here: {why}")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.fixture
def immutable_dir(tmp_path):
    d = tmp_path / "imm"
    d.mkdir()
    (d / "old.json").write_text("{}\n")
    why = _try(["chattr", "+i", str(d / "old.json")]) or _try(["chattr", "+i", str(d)])
    if why:
        pytest.skip(f"chattr +i is not possible here: {why}")
    try:
        yield d
    finally:
        subprocess.run(["chattr", "-i", str(d)], check=False)
        subprocess.run(["chattr", "-i", str(d / "old.json")], check=False)


@pytest.fixture
def full_dir(tmp_path):
    d = tmp_path / "full"
    d.mkdir()
    why = _try(["mount", "-t", "tmpfs", "-o", "size=256k", f"counting-{uuid.uuid4().hex[:6]}",
                str(d)])
    if why:
        pytest.skip(f"a tiny tmpfs cannot be mounted here: {why}")
    try:
        try:  # fill it up, leaving inodes but no blocks
            with open(d / "filler", "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def _outputs(place: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(command, argv) writing into `place`, one per output option of the table."""
    rows = [(c, with_option(BASE[c], o, str(place / "x"))) for c, o in OUT_DIRS.items()]
    rows += [(c, with_option(BASE[c], o, str(place / "old.json"))) for c, o in OUT_FILES.items()]
    return rows


def _run_real(world, place, tmp_path, capsys, expect, one_line=True):
    base, places = world
    fmt = {k: str(v) for k, v in places.items()} | {"new": str(tmp_path / "new")}
    (tmp_path / "new").mkdir(exist_ok=True)
    for cmd, argv in _outputs(place):
        argv = [a.format(**fmt) for a in argv]
        before = _snapshot(base, place)
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        check_refused(Case(cmd, "real", argv, expect, one_line=one_line), code, err, before,
                      (base, place))


def test_a_real_read_only_file_system(world, readonly_dir, tmp_path, capsys):
    _run_real(world, readonly_dir, tmp_path, capsys, r"cannot write .*: Read-only file system")


def test_real_immutable_files_and_directories(world, immutable_dir, tmp_path, capsys):
    _run_real(world, immutable_dir, tmp_path, capsys,
              r"cannot write .*: (Operation not permitted|the existing file is read-only)")


@pytest.mark.slow
def test_a_real_full_disk(world, full_dir, tmp_path, capsys):
    _run_real(world, full_dir, tmp_path, capsys, r"cannot write .*: No space left on device",
              one_line=False)


# ---- the studies run as modules (`python -m paper_figs.X`): the same contract, their prog ---

MODULES = {  # module: (its main, a valid command line); {new}: an empty directory
    "paper_figs.capacity": ("paper_figs.capacity:main",
                            ["--out", "{new}/cap", "--hidden", "1", "--runs", "1"]),
    "paper_figs.remedies": ("paper_figs.remedies:main", ["--out", "{new}/rem", "--runs", "1"]),
}
MODULE_CASES = [
    *[(m, f"--hidden={v!r}", with_option(argv, "--hidden", v), r"argument --hidden: ")
      for m, (_, argv) in MODULES.items() if m == "paper_figs.capacity"
      for v in ("0", "9", "x", "", "1,1", "1,,2", "-1")],
    *[(m, f"{opt}={v!r}", with_option(argv, opt, v), rf"argument {opt}: ")
      for m, (_, argv) in MODULES.items()
      for opt, values in {"--runs": COUNT, "--seed": SEED, "--jobs": COUNT}.items()
      for v in values],
    *[(m, "--out is a file", with_option(argv, "--out", "{file}"),
       r"cannot write .*file\.txt: it is an existing file, not a directory")
      for m, (_, argv) in MODULES.items()],
    *[(m, "--out under a file", with_option(argv, "--out", "{file}/sub"),
       r"cannot write .*: .*file\.txt is a file, not a directory")
      for m, (_, argv) in MODULES.items()],
]


@pytest.mark.parametrize("module, row, argv, expect", MODULE_CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in MODULE_CASES])
def test_bad_input_to_a_study_module_gets_one_line(module, row, argv, expect, world, tmp_path,
                                                   capsys):
    import importlib
    import re

    base, places = world
    new = tmp_path / "new"
    new.mkdir()
    fmt = {k: str(v) for k, v in places.items()} | {"new": str(new)}
    argv = [a.format(**fmt) for a in argv]
    target, attr = MODULES[module][0].split(":")
    before = _snapshot(base, tmp_path)
    capsys.readouterr()
    code = getattr(importlib.import_module(target), attr)(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    prefix = f"python -m {module}: error: "
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    assert re.search(expect, lines[0][len(prefix):]), f"{lines[0]!r} !~ {expect!r}"
    assert _snapshot(base, tmp_path) == before
    assert not _temp_files(base, tmp_path)


# ---- the same contract through the real entry point, one row per command -------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(BASE))
def test_subprocess_replay_of_one_row_per_command(command, world, tmp_path, capsys):
    row = next(c for c in CASES if c.command == command and c.id.startswith(
        ("--out is a file", "--json is a directory", "checkpoint garbage", "--out is a directory")))
    sub = Case(row.command, row.id, row.argv, row.expect, subprocess=True)
    base, places = world
    fmt = {k: str(v) for k, v in places.items()} | {"new": str(tmp_path)}
    argv = [a.format(**fmt) for a in sub.argv]
    before = _snapshot(base, tmp_path)
    code, err = _run(sub, argv, capsys)
    check_refused(sub, code, err, before, (base, tmp_path))
