"""paper_figs.data_source: the sets a reproduction uses and their record."""

import hashlib
import json

import pytest

from counting.datasets import SET_NAMES, make_datasets, write_datasets
from paper_figs.data_source import DataSource, combined_fingerprint, fingerprints, given_data


@pytest.fixture(scope="module")
def sets():
    return make_datasets("smoke", seed=1, progress=False)


def test_record_has_sizes_and_fingerprints_matching_the_sweeps(sets):
    from counting.sweep import _fingerprint  # what sweep.json stores

    rec = DataSource(sets, {"source": "generated", "profile": "smoke", "seed": 1}).record()
    assert rec["source"] == "generated" and rec["seed"] == 1
    assert list(rec["sets"]) == list(SET_NAMES)
    assert rec["sets"] == {k: _fingerprint(sets)[k] for k in SET_NAMES}
    lines = "".join(rec["sets"][n]["sha256"] + "\n" for n in SET_NAMES)
    assert rec["sha256"] == hashlib.sha256(lines.encode()).hexdigest()


def test_fingerprint_changes_with_any_word(sets):
    other = {k: list(v) for k, v in sets.items()}
    other["zigzag"] = other["zigzag"][::-1]
    assert combined_fingerprint(fingerprints(other)) != combined_fingerprint(fingerprints(sets))


def test_given_data_reads_the_files_and_keeps_provenance(sets, tmp_path):
    write_datasets(tmp_path, sets)
    src = given_data(tmp_path)
    assert src.sets == sets and src.origin["provenance"] is None
    (tmp_path / "provenance.json").write_text(json.dumps({"repository": "x/y"}))
    rec = given_data(tmp_path).record()
    assert rec["source"] == "given" and rec["path"] == str(tmp_path)
    assert rec["provenance"] == {"repository": "x/y"}


def test_an_empty_or_missing_set_is_refused(sets, tmp_path):
    with pytest.raises(ValueError, match="no words in set"):
        DataSource({**sets, "very_long": []}, {"path": "d"})
    write_datasets(tmp_path, {k: v for k, v in sets.items() if k != "long"})
    with pytest.raises(FileNotFoundError, match="long.txt: required set file is missing"):
        given_data(tmp_path)


def test_provenance_there_but_unusable_or_not_json_is_refused(sets, tmp_path):
    import os

    write_datasets(tmp_path, sets)
    prov = tmp_path / "provenance.json"
    os.mkfifo(prov)  # never opened and waited on
    with pytest.raises(ValueError, match=r"cannot read .*provenance\.json: not a regular file "
                       r"\(a FIFO\)$"):
        given_data(tmp_path)
    prov.unlink()
    prov.mkdir()
    with pytest.raises(ValueError, match=r"cannot read .*provenance\.json: is a directory$"):
        given_data(tmp_path)
    prov.rmdir()
    prov.write_text("{not json")
    with pytest.raises(ValueError, match=r"provenance\.json: not a JSON provenance record"):
        given_data(tmp_path)
    prov.write_bytes(b'\xef\xbb\xbf{"repository": "x/y"}\r\n')  # a byte-order mark, CRLF
    assert given_data(tmp_path).origin["provenance"] == {"repository": "x/y"}


def test_a_set_file_there_but_unusable_is_cannot_read_not_missing(sets, tmp_path):
    write_datasets(tmp_path, sets)
    (tmp_path / "long.txt").unlink()
    (tmp_path / "long.txt").symlink_to(tmp_path / "gone.txt")
    with pytest.raises(ValueError, match=r"cannot read .*long\.txt: dangling symbolic link$"):
        given_data(tmp_path)
