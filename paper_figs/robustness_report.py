"""The summary of a robustness run: DIR/robustness.csv, robustness.md and robustness.png.

    write_summary(DIR, [DIR/seed_0, DIR/seed_1, ...]) -> [the four paths]

robustness.csv: one row per claim (paper_figs.robustness_claims: columns and statistics).
robustness.json: what it covers (seeds, profile, data source and fingerprint) and the
number of disagreements per seed; with robustness.csv it is what a single report.md quotes
(paper_figs.robustness_reference).
robustness.md: the claims sorted into those that hold on most seeds (share of seeds that
agree >= HOLDS), seed luck (between) and those we contradict (share <= CONTRADICTED), with
the thresholds, the data used and the full table. robustness.png: per cell, the 10-run
mean very-long FPF of each seed (box and points) with the paper's average marked; and the
share of seeds agreeing with each Table 2 significance verdict.

Also `counting robustness-report DIR` (alias `python -m paper_figs.robustness_report DIR`)
summarizes the seed_* directories of DIR that hold a report.md.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from counting.fileformat import write_json_atomic, write_text_atomic
from paper_figs.agreement import NAMES
from paper_figs.layout import read_json, results_dir, write_csv
from paper_figs.paper_values import CELLS, TABLE1
from paper_figs.report import data_sentence, protocol_sentence
from paper_figs.robustness_claims import (
    COLUMNS,
    SHORT_WORD,
    percentile,
    seed_observations,
    summarize,
)

HOLDS = 0.8  # share of seeds that agree: the finding holds on most seeds
CONTRADICTED = 0.2  # ... at most this: we contradict it; in between: seed luck


def _seed_of(d: Path) -> int:
    return int(d.name.removeprefix("seed_"))


def _data_paragraph(seed_dirs: list[Path], profile: str | None) -> str:
    """Which data the seeds used, from their results/data.json."""
    records = []
    for d in seed_dirs:
        path = results_dir(d) / "data.json"
        records.append(read_json(path) if path.is_file() else None)
    given = [r for r in records if r and r.get("source") == "given"]
    if not given:
        prof = profile or "paper"
        return (
            f"Data: generated for each seed from that seed (`counting data --profile {prof} "
            "--seed s`), so the seeds differ in data as well as in initialization."
        )
    prints = {r["sha256"] for r in given}
    text = data_sentence(given[0])
    if len(given) == len(records) and len(prints) == 1:
        return (
            f"{text} The same sets for every seed (fingerprint `{given[0]['sha256'][:12]}`): "
            "the seeds differ only in initialization and shuffling."
        )
    return (
        f"{text} Not every seed used these sets ({len(given)} of {len(records)} seeds on "
        f"given data, {len(prints)} distinct fingerprint(s)): see each seed's report.md."
    )


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if math.isinf(x):
        return "none" if x > 0 else "-inf"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.{digits}g}"


def _share(x: float) -> str:
    return f"{100 * x:.0f} %"


def disagreements(per_seed) -> list[int]:
    """Per seed, how many of report.md's claims disagree with the paper (its count)."""
    return [
        sum(not o.agree for o in obs if not o.key.startswith("worst_case/")) for obs in per_seed
    ]


def _disagreement_line(counts: list[int], seeds: list[int]) -> str:
    c = sorted(counts)
    per = ", ".join(f"{s}: {n}" for s, n in zip(seeds, counts, strict=True))
    return (
        f"Disagreements with the paper per seed (as each report.md counts them): median "
        f"{percentile(c, 50):g}, from {c[0]} to {c[-1]} (seed: count - {per})."
    )


def markdown(
    rows: list[dict],
    seeds: list[int],
    data_text: str,
    profile: str | None,
    counts: list[int] | None = None,
) -> str:
    claims = [r for r in rows if not r["key"].startswith("worst_case/")]
    worst = [r for r in rows if r["key"].startswith("worst_case/")]
    holds = [r for r in claims if r["share_agree"] >= HOLDS]
    contra = [r for r in claims if r["share_agree"] <= CONTRADICTED]
    luck = [r for r in claims if CONTRADICTED < r["share_agree"] < HOLDS]
    span = (
        f"{min(seeds)}..{max(seeds)}"
        if seeds == list(range(min(seeds), max(seeds) + 1))
        else ", ".join(map(str, seeds))
    )
    out = [
        "# Robustness of the paper's claims across seeds",
        "",
        f"{len(seeds)} reproductions (`counting reproduce`, profile `{profile or '?'}`), "
        f"seeds {span}, one per seed in `seed_<s>/`. Each claim that report.md checks is "
        "decided on each seed by report.md's own rule; the share of seeds that agree says "
        "how much of an agreement one seed's luck explains.",
        "",
        data_text,
        "",
        *([_disagreement_line(counts, seeds), ""] if counts else []),
        f"Thresholds: a finding **holds** when at least {_share(HOLDS)} of the seeds agree "
        f"with the paper, is **seed luck** when between {_share(CONTRADICTED)} and "
        f"{_share(HOLDS)} agree, and is **contradicted** when at most {_share(CONTRADICTED)} "
        "agree.",
        "",
    ]
    for title, group in (
        ("Holds on most seeds", holds),
        ("Seed luck", luck),
        ("Contradicted", contra),
    ):
        out += [f"## {title} ({len(group)} of {len(claims)} claims)", ""]
        out += [
            f"- {r['claim']} - {_share(r['share_agree'])} of {r['seeds']} seeds" for r in group
        ] or ["- none"]
        out.append("")
    out += [
        "## Every claim",
        "",
        "Statistic (one number per seed): Table 1 - our average over the kept runs; order - "
        "min(LSTM - ReLU, ReLU - GRU) of the average very-long FPFs (> 0 iff the paper's "
        "order); Table 2 - our p; failure modes - the share of the cell's first failures in "
        "the paper's class. Percentiles are over the seeds; the paper's percentile is where "
        "its value falls among ours (% of seeds below, ties half).",
        "",
        "| claim | paper | seeds agreeing | median | 5th-95th pct | paper's percentile |",
        "|---|---|---|---|---|---|",
    ]
    for r in claims:
        out.append(
            f"| {r['claim']} | {_fmt(r['paper_value'])} | {_share(r['share_agree'])} of "
            f"{r['seeds']} | {_fmt(r['median'])} | {_fmt(r['p5'])} - {_fmt(r['p95'])} | "
            f"{_fmt(r['paper_percentile'], 3)} |"
        )
    out.append("")
    if worst:
        out += [
            "## Worst case: the shortest failing Dyck word",
            "",
            "From each seed's results/worst_case.csv (`counting verify` on the best model of "
            "each kept run): per seed, the median over those models of the length of the "
            "shortest Dyck word they get wrong (`none`: no failing word up to the maximum "
            f"length checked). The paper has no such number. The share column here is the share "
            f"of seeds in which that median is shorter than {SHORT_WORD} tokens - the "
            "very-long words' length.",
            "",
            f"| cell | seeds with median < {SHORT_WORD} | median | 5th-95th pct |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {NAMES[r['key'].split('/')[1]]} | {_share(r['share_agree'])} of {r['seeds']} | "
            f"{_fmt(r['median'])} | {_fmt(r['p5'])} - {_fmt(r['p95'])} |"
            for r in worst
        ]
        out.append("")
    out += ["Files: robustness.csv (these numbers in full precision), robustness.png.", ""]
    return "\n".join(out)


def figure(per_seed_fpf: dict[str, list[float]], rows: list[dict], path: Path) -> Path:
    """robustness.png: left, per cell the seeds' 10-run mean very-long FPF with the paper's
    average (and min-max) marked; right, the share of seeds agreeing per Table 2 claim."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from paper_figs.layout import savefig_atomic

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    rng = np.random.default_rng(0)  # the points' horizontal jitter, fixed
    cells = [c for c in CELLS if per_seed_fpf.get(c)]
    for i, cell in enumerate(cells):
        v = np.array([x for x in per_seed_fpf[cell] if math.isfinite(x)], dtype=float)
        ax.boxplot(v, positions=[i], widths=0.45, showfliers=False, medianprops={"color": "black"})
        ax.scatter(
            i + rng.uniform(-0.16, 0.16, v.size),
            v,
            s=14,
            alpha=0.6,
            color="C0",
            label="ours: one seed (box: quartiles)" if i == 0 else None,
            zorder=3,
        )
        mean, lo, hi = TABLE1[cell]["very_long_fpf"]
        ax.plot(
            [i + 0.38, i + 0.38],
            [lo, hi if hi is not None else 1000],
            color="C3",
            lw=1.5,
            label="paper: min-max of its 10 models" if i == 0 else None,
        )
        if hi is None:
            ax.annotate(
                "max: none\n(one never\nfails)",
                (i + 0.38, 1000),
                fontsize=7,
                color="C3",
                xytext=(4, -30),
                textcoords="offset points",
            )
        ax.scatter(
            [i + 0.38],
            [mean],
            marker="D",
            s=50,
            color="C3",
            zorder=4,
            label="paper: average" if i == 0 else None,
        )
    ax.set_xticks(range(len(cells)), [NAMES[c] for c in cells])
    ax.set_xlim(-0.6, len(cells) - 0.15)
    ax.set_ylabel("very-long FPF: mean over the best models of one seed")
    ax.set_title(f"Very-long FPF, {max(map(len, per_seed_fpf.values()), default=0)} seeds")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8)
    ax.grid(axis="y", alpha=0.3)

    t2 = [r for r in rows if r["key"].startswith("table2/")]
    labels = [
        f"{NAMES[r['key'].split('/')[1]]}, {r['key'].split('/')[2]} loss: paper p = "
        f"{r['paper_value']:.2g} ({'' if r['paper_value'] < 0.05 else 'not '}significant)"
        for r in t2
    ]
    shares = [r["share_agree"] for r in t2]
    colors = ["C2" if s >= HOLDS else "C3" if s <= CONTRADICTED else "C1" for s in shares]
    y = np.arange(len(t2))[::-1]
    bx.barh(y, shares, color=colors)
    for yi, s in zip(y, shares, strict=True):
        bx.text(
            s + 0.01 if s < 0.9 else s - 0.01,
            yi,
            f"{100 * s:.0f} %",
            va="center",
            ha="left" if s < 0.9 else "right",
            fontsize=8,
        )
    bx.set_yticks(y, labels, fontsize=8)
    for x in (CONTRADICTED, HOLDS):
        bx.axvline(x, color="grey", ls="--", lw=1)
    bx.set_xlim(0, 1)
    bx.set_xlabel("share of seeds with the paper's verdict (significant at p < 0.05 or not)")
    bx.set_title("Table 2: FPF regressed on -log(loss)")
    from matplotlib.patches import Patch

    bx.legend(
        handles=[
            Patch(color="C2", label=f"holds (>= {HOLDS:.0%})"),
            Patch(color="C1", label="seed luck"),
            Patch(color="C3", label=f"contradicted (<= {CONTRADICTED:.0%})"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=3,
        fontsize=8,
    )
    fig.tight_layout()
    savefig_atomic(fig, path)
    plt.close(fig)
    return path


def write_summary(out, seed_dirs) -> list[Path]:
    """Read every seed's reproduction, write the three summary files -> their paths."""
    out = Path(out)
    seed_dirs = [Path(d) for d in seed_dirs]
    per_seed = [seed_observations(d) for d in seed_dirs]
    rows = summarize(per_seed)
    profile, protocol = None, None
    sel = results_dir(seed_dirs[0]) / "selection.json"
    if sel.is_file():
        profile = read_json(sel).get("profile")
        protocol = read_json(sel).get("protocol")  # absent: the paper protocol (issue 22)
    fpf = {
        c: [o.value for obs in per_seed for o in obs if o.key == f"table1/{c}/very_long_fpf"]
        for c in CELLS
    }
    write_csv(out / "robustness.csv", COLUMNS, rows)
    seeds = [_seed_of(d) for d in seed_dirs]
    text = markdown(
        rows, seeds, protocol_sentence({"protocol": protocol}) + "\n\n"
        + _data_paragraph(seed_dirs, profile), profile, disagreements(per_seed)
    )
    write_text_atomic(out / "robustness.md", text)
    figure(fpf, rows, out / "robustness.png")
    meta = _meta(seed_dirs, seeds, profile, per_seed)
    write_json_atomic(out / "robustness.json", {**meta, "protocol": protocol} if protocol
                      else meta)
    return [out / "robustness.csv", out / "robustness.md", out / "robustness.png",
            out / "robustness.json"]


def _meta(seed_dirs: list[Path], seeds: list[int], profile, per_seed) -> dict:
    """robustness.json: what the summary covers - seeds, profile, the data (source, and the
    fingerprint when every seed used the same given sets), disagreements per seed."""
    prints, sources = set(), set()
    for d in seed_dirs:
        path = results_dir(d) / "data.json"
        record = read_json(path) if path.is_file() else {}
        sources.add(record.get("source"))
        prints.add(record.get("sha256"))
    source = sources.pop() if len(sources) == 1 else "mixed"
    return {
        "seeds": seeds,
        "profile": profile,
        "data_source": source,
        "data_sha256": prints.pop() if source == "given" and len(prints) == 1 else None,
        "disagreements": disagreements(per_seed),
    }


PROG = "python -m paper_figs.robustness_report"
DESCRIPTION = (
    "Summarize the reproductions DIR/seed_<s>/ that hold a report.md (as `counting "
    "robustness` does after its seeds): write DIR/robustness.csv, robustness.md, "
    "robustness.png and robustness.json."
)


def add_arguments(p) -> None:
    """The command's arguments (the same for `counting robustness-report` and `python -m
    paper_figs.robustness_report`); sets `func`."""
    from counting.paths import declare_paths

    p.add_argument("dir", metavar="DIR",
                   help="a directory of seed_<s>/ reproductions; the summary is written "
                   "into it")
    declare_paths(p, output_dirs=("dir",))
    p.set_defaults(func=run)


def register(sub) -> None:
    """`counting robustness-report`."""
    p = sub.add_parser("robustness-report", help="summarize a directory of seed_<s>/ "
                       "reproductions across seeds (robustness.csv, .md, .png)",
                       description=DESCRIPTION)
    add_arguments(p)


def build_parser():
    """The parser of `python -m paper_figs.robustness_report` (the alias of `counting
    robustness-report`)."""
    from counting.options import OneLineParser

    p = OneLineParser(prog=PROG, description=DESCRIPTION)
    add_arguments(p)
    return p


def run(args) -> int:
    from counting.contract import UserError

    dirs = sorted(
        (
            d
            for d in Path(args.dir).glob("seed_*")
            if d.name[5:].isdigit() and (d / "report.md").is_file()
        ),
        key=_seed_of,
    )
    if not dirs:
        raise UserError(f"{args.dir}: no seed_<s>/report.md (reproductions of `counting "
                        "robustness` or `counting reproduce --out DIR/seed_<s>`)")
    for path in write_summary(args.dir, dirs):
        print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """`python -m paper_figs.robustness_report DIR`, the alias of `counting robustness-report
    DIR`: bad input -> one line `python -m paper_figs.robustness_report: error: ...`, exit 2
    (`counting.contract.run`)."""
    from counting.contract import run as run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
