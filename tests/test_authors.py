"""`counting data --from-authors`: the paper's split from a clone of the authors' repository.

The fixture is a directory with the authors' file names and line format (`seq,label,third`),
filled with words from our own generators; it never needs the real clone.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest

from counting.authors import SPLIT, authors_split, write_authors_split
from counting.cli import main
from counting.datasets import load_datasets
from counting.dyck import labels
from counting.generators import conditioned_pcfg_word, pcfg_words, zigzag

ZIGZAG_FILE_ORDER = (1000, 500, 250, 200, 125, 100, 50, 25, 20, 10)


def _write(path, words):
    # the authors' third field holds a list, sometimes with commas
    path.write_text("".join(f"{w},{labels(w)},['()', '(())']\n" for w in words))


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    root = tmp_path_factory.mktemp("authors_clone")
    rng = np.random.default_rng(11)
    short = pcfg_words(rng, 20_000, 2, 50)
    _write(root / "Dyck1_Dataset_Suzgun_train_.txt", short)
    _write(root / "Dyck1_Dataset_Suzgun_test_.txt", pcfg_words(rng, 5_200, 52, 100))
    exact = [conditioned_pcfg_word(rng, 1000) for _ in range(8)]
    other = [conditioned_pcfg_word(rng, n) for n in (1002, 1100, 1200)]
    _write(root / "Dyck1_Dataset_Suzgun_1000tokens.txt",
           [conditioned_pcfg_word(rng, n) for n in (502, 974)])
    _write(root / "Dyck1_Dataset_Suzgun_1000tokens_3.txt", [other[0], exact[0], exact[1]])
    _write(root / "Dyck1_Dataset_Suzgun_1000tokens_4.txt", [exact[2], other[1], exact[0]])
    _write(root / "Dyck1_Dataset_Suzgun_1000tokens_5.txt", exact[3:6] + [other[2]])
    _write(root / "Dyck1_Dataset_Suzgun_1000tokens_6.txt", [exact[6], exact[7], exact[6]])
    _write(root / "Dyck1_Dataset_Suzgun_2000tokens_zigzag.txt",
           [zigzag(j, 2000) for j in ZIGZAG_FILE_ORDER])
    return {"root": root, "short": short, "exact": exact}


def test_split_takes_the_issue_line_ranges(clone):
    sets, prov = authors_split(clone["root"])
    short = clone["short"]
    assert sets["train"] == short[:10_000]
    assert sets["validation"] == short[15_000:20_000]
    assert len(sets["long"]) == 5_000 and all(52 <= len(w) <= 100 for w in sets["long"])
    assert [s.index(")") for s in sets["zigzag"]] == list(ZIGZAG_FILE_ORDER)
    assert prov["sets"]["validation"]["from"][0]["lines"] == [15_001, 20_000]
    assert prov["repository"] == "nadineelnaggar/Plain-RNN-Counter-Experiments"
    assert "clone" not in prov and str(clone["root"]) not in json.dumps(prov)  # not where


def test_very_long_is_the_distinct_1000_token_words_of_files_3_to_6(clone):
    sets, prov = authors_split(clone["root"])
    assert sets["very_long"] == clone["exact"]  # file order, repeats dropped, others filtered
    assert [p["words"] for p in prov["sets"]["very_long"]["from"]] == [2, 2, 3, 3]
    assert prov["sets"]["very_long"]["words"] == 8


def test_written_split_reads_back_with_provenance(clone, tmp_path):
    paths = write_authors_split(clone["root"], tmp_path / "split")
    assert sorted(p.name for p in paths) == sorted(
        ["train.txt", "validation.txt", "long.txt", "very_long.txt", "zigzag.txt",
         "provenance.json"])
    sets, _ = authors_split(clone["root"])
    assert load_datasets(tmp_path / "split") == sets
    prov = json.loads((tmp_path / "split" / "provenance.json").read_text())
    assert prov["commit"] is None  # the fixture is no git repository
    files = {r["file"] for s in prov["sets"].values() for r in s["from"]}
    assert files == {p.file for parts in SPLIT.values() for p in parts}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_provenance_names_the_commit_and_modified_files(clone, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(clone["root"], root)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(root), *cmd], check=True, env=env)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True, env=env,
                          capture_output=True, text=True).stdout.strip()
    _, prov = authors_split(root)
    assert prov["commit"] == head and prov["modified_files"] == []
    zz = root / "Dyck1_Dataset_Suzgun_2000tokens_zigzag.txt"
    zz.write_text(zz.read_text().replace("['()', '(())']", "[]"))
    _, prov = authors_split(root)
    assert prov["modified_files"] == ["Dyck1_Dataset_Suzgun_2000tokens_zigzag.txt"]


def test_missing_file_is_one_line_naming_it(clone, tmp_path, capsys):
    root = tmp_path / "partial"
    shutil.copytree(clone["root"], root)
    (root / "Dyck1_Dataset_Suzgun_1000tokens_5.txt").unlink()
    assert main(["data", "--from-authors", str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Dyck1_Dataset_Suzgun_1000tokens_5.txt: missing" in err
    assert not (tmp_path / "o").exists()


def test_short_file_and_missing_clone_are_errors(clone, tmp_path, capsys):
    root = tmp_path / "short"
    shutil.copytree(clone["root"], root)
    train = root / "Dyck1_Dataset_Suzgun_train_.txt"
    train.write_text("".join(train.read_text().splitlines(keepends=True)[:19_999]))
    assert main(["data", "--from-authors", str(root), "--out", str(tmp_path / "o")]) == 2
    assert "has 19999 lines, the split needs lines 15001-20000" in capsys.readouterr().err
    assert main(["data", "--from-authors", str(tmp_path / "nope"), "--out", "x"]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_cli_writes_the_split(clone, tmp_path, capsys):
    out = tmp_path / "split"
    assert main(["data", "--from-authors", str(clone["root"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "very_long.txt (8 sequences)" in printed and "provenance.json" in printed


@pytest.mark.slow
def test_reproduce_on_the_authors_split_end_to_end(clone, tmp_path, capsys):
    split, out = tmp_path / "split", tmp_path / "repro"
    assert main(["data", "--from-authors", str(clone["root"]), "--out", str(split)]) == 0
    assert main(["reproduce", "--data", str(split), "--out", str(out), "--profile",
                 "smoke"]) == 0
    record = json.loads((out / "results" / "data.json").read_text())
    assert record["source"] == "given" and record["sets"]["very_long"]["n"] == 8
    assert record["provenance"]["written_by"] == "counting data --from-authors"
    report = (out / "report.md").read_text()
    assert "Data: the given set files (" in report and "very_long 8" in report
    assert str(split) not in report and "clone" not in record["provenance"]  # not where
    assert "over the 8 sequences" in (out / "table1.md").read_text()
    zig = [line.split(",")[0] for line in (out / "data" / "zigzag.txt").read_text().split()]
    assert [w.index(")") for w in zig] == list(ZIGZAG_FILE_ORDER)  # the file's order, kept
