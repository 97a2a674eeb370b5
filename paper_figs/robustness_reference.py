"""How often a single reproduction's disagreements occur across seeds: the sentence report.md
quotes from a robustness run shipped with the package.

    sentence = seed_luck_sentence(DIR)   # DIR: a reproduction with its tables written; or None

The package holds the summaries of the robustness runs in docs/robustness/
(`paper_figs/robustness_reference/<name>.csv` and `.json`, copies of a run's robustness.csv
and robustness.json):
- "generated": `counting robustness --seeds 0:50` on generated data (paper profile) - quoted
  by reproductions on generated data, paper profile, one unit;
- "authors": the same with `--data` the authors' split - quoted by reproductions on given
  data with the same fingerprint;
- "authors-protocol": the same with `--protocol authors` too - quoted by reproductions under
  that protocol on that data (a run is only quoted by reproductions of its own protocol).
Any other reproduction (smoke profile, other data, H > 1) quotes nothing: the shares would
not be about it.
"""

from __future__ import annotations

import json
from pathlib import Path

from paper_figs.layout import read_csv, read_json, results_dir

HERE = Path(__file__).with_name("robustness_reference")
DOCS = {"generated": "docs/robustness/robustness.md",
        "authors": "docs/robustness/authors/robustness.md",
        "authors-protocol": "docs/robustness/authors-protocol/robustness.md"}


def _load(name: str, where: Path) -> tuple[list[dict], dict] | None:
    csv, meta = where / f"{name}.csv", where / f"{name}.json"
    if not (csv.is_file() and meta.is_file()):
        return None
    return read_csv(csv), json.loads(meta.read_text())


def reference_for(root, where: Path = HERE) -> tuple[str, list[dict], dict] | None:
    """(name, robustness.csv rows, robustness.json) of the shipped run that applies to the
    reproduction in root, or None."""
    res = results_dir(Path(root))
    sel = read_json(res / "selection.json")
    data = res / "data.json"
    record = read_json(data) if data.is_file() else {}
    if sel.get("profile") != "paper" or sel.get("hidden_size", 1) != 1:
        return None
    for name in DOCS:
        ref = _load(name, where)
        if ref is None or ref[1].get("profile") != "paper":
            continue
        if ref[1].get("protocol") != sel.get("protocol"):  # issue 22: same protocol only
            continue
        meta = ref[1]
        if record.get("source") == "generated" == meta.get("data_source"):
            return name, *ref
        if (record.get("source") == "given" == meta.get("data_source")
                and record.get("sha256") == meta.get("data_sha256")):
            return name, *ref
    return None


def seed_luck_sentence(root, where: Path = HERE) -> str | None:
    """A paragraph: across the shipped run's seeds, the median number of disagreements, and
    for each of this reproduction's disagreements, the share of seeds that show it too."""
    from paper_figs.robustness_claims import seed_observations

    found = reference_for(root, where)
    if found is None:
        return None
    name, rows, meta = found
    by_key = {r["key"]: r for r in rows}
    counts = sorted(meta["disagreements"])
    n = len(counts)
    median = counts[n // 2] if n % 2 else (counts[n // 2 - 1] + counts[n // 2]) / 2
    head = (
        f"How much of this is seed luck: across {n} seeds of the same protocol "
        f"({DOCS[name]}), a reproduction has a median of {median:g} disagreement(s) "
        f"({counts[0]} to {counts[-1]})."
    )
    ours = [o for o in seed_observations(root) if not o.agree and o.key in by_key
            and not o.key.startswith("worst_case/")]
    if not ours:
        return head + " This seed has none."
    parts = [f"{by_key[o.key]['claim'].split(':')[0]} on "
             f"{100 * (1 - float(by_key[o.key]['share_agree'])):.0f} %" for o in ours]
    return head + " This seed's disagreements occur on these shares of the seeds: " + \
        "; ".join(parts) + "."


__all__ = ["DOCS", "reference_for", "seed_luck_sentence"]
