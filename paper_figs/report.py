"""report.md: each of our numbers beside the paper's, and a plain statement of where they agree.

Agreement rules (stated in the report itself):
- Table 1: the paper's average lies inside our [min, max] over runs, and the order of the
  cells by mean very-long FPF is the paper's (LSTM > ReLU > GRU).
- Table 2: the same sign of the slope is not reported by the paper, so we compare
  significance: both p < 0.05, or both >= 0.05.
- Failure modes: the dominant first-failure class per cell on zigzag equals the paper's.
- The worst case (Table 1's "Shortest failing Dyck word" row, fig4, results/worst_case.csv)
  has no value in the paper: it is reported in its own section, never counted as an
  agreement or a disagreement.
The report also says which data the reproduction used (results/data.json: generated with a
profile and seed, or loaded from a directory - with the sets' sizes and fingerprint), and,
for models of hidden size H > 1 (`reproduce --hidden-size H`; "hidden_size" in
selection.json), that every comparison is with the paper's single-cell (H = 1) numbers.
Reads the tables written by table1/table2/failure_modes and results/selection.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from counting.fileformat import write_text_atomic
from paper_figs.agreement import (  # noqa: F401 - the rules, also under their old names here
    ALPHA,
    NAMES,
    PAPER_ORDER,
    SET_TITLES,
    cell_order,
    failure_mode_agrees,
    table1_agrees,
    table2_agrees,
)
from paper_figs.layout import read_csv, read_json, results_dir, run_module
from paper_figs.paper_values import CELLS, FAILURE_MODES, TABLE1, TABLE2
from paper_figs.robustness_reference import seed_luck_sentence
from paper_figs.worst_case import summary as worst_case_summary

WORST_SET = "shortest_failure"  # table1.WORST: the worst-case row of table1.csv


def _num(x: float) -> str:
    """One decimal, or as many more (up to 4) as it takes not to round a value that is not
    0 or 100 to 0 or 100 (an accuracy of 99.98 % must not read as 100.0)."""
    for digits in (1, 2, 3, 4):
        s = f"{x:.{digits}f}"
        if float(s) not in (0.0, 100.0) or float(s) == x:
            break
    return s


def _fmt_range(mean, lo, hi) -> str:
    hi_s = "none" if hi is None else f"{hi:g}"
    return f"{mean:g} ({lo:g} / {hi_s})"


def _table1_section(t1: list[dict]) -> tuple[str, list[str]]:
    lines = [
        "## Table 1 - accuracy and very-long FPF of the best models",
        "",
        "| Model | Set | Paper avg (min / max) | Ours avg (min / max) "
        "| Paper avg inside our range? |",
        "|---|---|---|---|---|",
    ]
    verdicts = []
    for cell in CELLS:
        for s in SET_TITLES:
            ours = next((r for r in t1 if r["cell"] == cell and r["set"] == s), None)
            mean, lo, hi = TABLE1[cell][s]
            if ours is None:
                continue
            inside = table1_agrees(mean, ours)
            ours_s = f"{_num(ours['mean'])} ({_num(ours['min'])} / {_num(ours['max'])})"
            lines.append(
                f"| {NAMES[cell]} | {SET_TITLES[s]} | {_fmt_range(mean, lo, hi)} | "
                f"{ours_s} | {'yes' if inside else '**no**'} |"
            )
            if not inside:
                verdicts.append(
                    f"Table 1, {NAMES[cell]} {SET_TITLES[s]}: paper {mean:g}, "
                    f"ours {_num(ours['mean'])} ({_num(ours['min'])}-{_num(ours['max'])})."
                )
    for r in t1:  # the worst-case row: no paper value, never a verdict
        if r["set"] == WORST_SET:
            ours_s = f"{_num(r['mean'])} ({r['min']:.0f} / {r['max']:.0f})"
            lines.append(f"| {NAMES[r['cell']]} | Shortest failing Dyck word (worst case) | "
                         f"no value | {ours_s} | not compared |")
    order = cell_order(t1)
    if order is not None:
        same = tuple(order) == PAPER_ORDER
        lines += [
            "",
            f"Order of cells by mean very-long FPF: ours "
            f"{' > '.join(NAMES[c] for c in order)}; paper LSTM > ReLU > GRU - "
            f"{'the same' if same else '**different**'}.",
        ]
        if not same:
            verdicts.append("The order of the cells by very-long FPF differs from the paper's.")
    return "\n".join(lines), verdicts


def _table2_section(t2: list[dict]) -> tuple[str, list[str]]:
    lines = [
        "## Table 2 - regression of very-long FPF on -log(loss), 60 models per cell",
        "",
        "| Model | Loss on | Paper R² / p | Ours R² / p | Same significance (p < 0.05)? |",
        "|---|---|---|---|---|",
    ]
    verdicts = []
    for r in t2:
        pr2, pp = TABLE2[r["cell"]][r["loss_set"]]
        same = table2_agrees(pp, r["p"])
        lines.append(
            f"| {NAMES[r['cell']]} | {r['loss_set']} | {pr2:.3f} / {pp:.3g} | "
            f"{r['r2']:.3f} / {r['p']:.3g} | {'yes' if same else '**no**'} |"
        )
        if not same:
            verdicts.append(
                f"Table 2, {NAMES[r['cell']]} on {r['loss_set']} loss: paper "
                f"p = {pp:.3g}, ours p = {r['p']:.3g}."
            )
    return "\n".join(lines), verdicts


def _failure_section(fmt: list[dict]) -> tuple[str, list[str]]:
    lines = [
        "## Failure modes on the zigzag set (Figure 3, Section 5)",
        "",
        "| Model | Paper | Our dominant class | Our counts | Agree? |",
        "|---|---|---|---|---|",
    ]
    verdicts = []
    for cell in CELLS:
        rows = {r["class"]: r["count"] for r in fmt if r["cell"] == cell}
        if not rows:
            continue
        ours, agree = failure_mode_agrees(fmt, cell)
        paper_cls, paper_text = FAILURE_MODES[cell]
        counts = ", ".join(f"{k}: {v}" for k, v in rows.items())
        lines.append(
            f"| {NAMES[cell]} | {paper_cls} ({paper_text}) | {ours} | {counts} | "
            f"{'yes' if agree else '**no**'} |"
        )
        if not agree:
            verdicts.append(f"Failure mode of {NAMES[cell]}: paper {paper_cls}, ours {ours}.")
    return "\n".join(lines), verdicts


def worst_case_section(rows: list[dict]) -> str:
    """The worst case over every Dyck word (results/worst_case.csv) against the paper's
    average-case measure, in plain words. Not compared with the paper (it has no value)."""
    best, stage = worst_case_summary(rows, "best"), worst_case_summary(rows, "stage")
    if not best:
        return "## Worst case over every Dyck word\n\nNo best models were verified."
    n = max(b["max_length"] for b in best.values())
    lines = [
        "## Worst case over every Dyck word (not in the paper; not compared)",
        "",
        f"`probes.verify` considers every Dyck word of up to {n} tokens and every token of it "
        "(docs/verify.md). Shortest failing word in tokens, avg (min / max); a model with no "
        f"failing word up to {n} counts as {n} (its average is then a lower bound).",
        "",
        "| Model | Best models: mean very-long FPF | Best models: shortest failing word "
        "| No failure up to N | Stage models: shortest failing word | Exact |",
        "|---|---|---|---|---|---|",
    ]
    for cell, b in best.items():
        st = stage.get(cell)
        st_s = "-" if st is None else f"{_lengths(st)} (of {st['n']})"
        n_exact = sum(r["method"] == "exact" for r in rows if r["cell"] == cell)
        n_all = sum(r["cell"] == cell for r in rows)
        lines.append(f"| {NAMES[cell]} | {b['fpf_mean']:.1f} | {_lengths(b)} | "
                     f"{b['none_failed']} of {b['n']} | {st_s} | {n_exact} of {n_all} |")
    lines += ["", " ".join(_gap_sentence(cell, b, rows) for cell, b in best.items())]
    return "\n".join(lines)


def _lengths(s: dict) -> str:
    return f"{s['mean']:.1f} ({s['min']:.0f} / {s['max']:.0f})"


def _gap_sentence(cell: str, b: dict, rows: list[dict]) -> str:
    """E.g. "The best LSTMs fail on average at token 912 of random 1000-token words, yet
    each of the 10 gets some Dyck word of only 28-88 tokens wrong (median 54): ..."."""
    from paper_figs.worst_case import no_failure

    mine = [r for r in rows if r["cell"] == cell and r["kind"] == "best"]
    failing = sorted(int(r["shortest_failure_length"]) for r in mine if not no_failure(r))
    name = f"{NAMES[cell]}s"
    head = (f"The best {name} fail on average at token {b['fpf_mean']:.0f} of the random "
            f"words of the very-long set (mean FPF)")
    if not failing:
        return (f"{head}, and none of the {b['n']} gets any Dyck word of up to "
                f"{b['max_length']} tokens wrong.")
    who = (f"each of the {b['n']}" if len(failing) == b["n"]
           else f"{len(failing)} of the {b['n']}")
    span = (f"{failing[0]}" if failing[0] == failing[-1]
            else f"{failing[0]}-{failing[-1]}")
    text = (f"{head}, yet {who} gets some Dyck word of only {span} tokens wrong "
            f"(median {np.median(failing):g})")
    if b["fpf_mean"] > 0:
        text += (f": the shortest failing word is {b['fpf_mean'] / np.median(failing):.1f}x "
                 "shorter than the average first failure")
    if len(failing) < b["n"]:
        text += (f"; {b['n'] - len(failing)} get no word of up to {b['max_length']} "
                 "tokens wrong")
    return text + "."


def data_sentence(record: dict | None) -> str:
    """One paragraph on the data a reproduction used, from results/data.json (None: a
    results directory written before that file existed - the data was generated)."""
    if record is None:
        return "Data: generated (see data/dataset.json)."
    sizes = ", ".join(f"{name} {s['n']}" for name, s in record["sets"].items())
    facts = f"{sizes} words; fingerprint `{record['sha256'][:12]}`"
    if record.get("source") == "given":
        text = f"Data: the given set files ({facts})"
        prov = record.get("provenance") or {}
        if prov.get("repository"):
            commit = prov.get("commit")
            at = f" at commit `{commit[:10]}`" if commit else ""
            text += (f", assembled by `{prov.get('written_by', 'counting data --from-authors')}`"
                     f" from a clone of {prov['repository']}{at}")
            if prov.get("modified_files"):
                text += f" (files differing from that commit: {', '.join(prov['modified_files'])})"
        return text + "."
    return (f"Data: generated (`counting data --profile {record['profile']} "
            f"--seed {record['seed']}`; {facts}).")


def protocol_sentence(sel: dict) -> str:
    """The training protocol of a reproduction, from results/selection.json ("protocol",
    absent = the paper protocol)."""
    p = sel.get("protocol")
    if not p:
        return ("Protocol: `paper` (ours: best epoch by the true mean validation loss over "
                "all epochs, one training session, stage models after epochs 1, 5, 10, 15, "
                "20, 25; docs/DEVIATIONS.md).")
    parts = [
        "best epoch by the authors' logged validation loss (one shuffled word's loss / the "
        "set size), minimum over epochs 1-20; runs ranked by the true mean loss of that epoch"
        if p.get("selection") == "authors" else
        "best epoch by the true mean validation loss over all epochs",
        "LSTM and GRU trained in the authors' two sessions (20 + 10 epochs, the shuffle order "
        "restarting at epoch 21)" if p.get("sessions") == "authors" else
        "one training session",
        "stage models after epochs 1, 6, 11, 16, 21, 26 and Table 2's training loss the "
        "online loss" if p.get("stage_epochs") == "authors" else
        "stage models after epochs 1, 5, 10, 15, 20, 25",
    ]
    return f"Protocol: `{p.get('name', 'mixed')}` ({'; '.join(parts)}; docs/DEVIATIONS.md)."


def hidden_size_sentence(sel: dict) -> str | None:
    """A paragraph naming the hidden size H of a reproduction with H > 1, or None for H = 1
    (the paper's; the report then reads as it always did)."""
    h = sel.get("hidden_size", 1)
    if h == 1:
        return None
    return (f"Hidden size H = {h}: every model has {h} units, the paper's have one. Every "
            "number below is compared with the paper's single-cell (H = 1) numbers under the "
            f"same rules, so an agreement says that H = {h} does as well as (or no "
            "differently from) the paper's single cell, a disagreement that it does not. The "
            "failure classes on the zigzag set need only a model's outputs and the true "
            f"depth, so they apply at H = {h} unchanged.")


def make(root) -> list[Path]:
    root = Path(root)
    sel = read_json(results_dir(root) / "selection.json")
    data_json = results_dir(root) / "data.json"
    data_record = read_json(data_json) if data_json.is_file() else None
    t1 = read_csv(root / "table1.csv")
    t2 = read_csv(root / "table2.csv")
    fmt = read_csv(root / "failure_modes.csv")
    s1, v1 = _table1_section(t1)
    s2, v2 = _table2_section(t2)
    s3, v3 = _failure_section(fmt)
    worst = results_dir(root) / "worst_case.csv"
    sections = [s1, s2, s3]
    if worst.is_file():
        sections.append(worst_case_section(read_csv(worst)))
    disagreements = v1 + v2 + v3
    kept = ", ".join(
        f"{NAMES[c]} {len(sel['cells'][c])} of {sel['runs_trained'][c]}" for c in CELLS
    )
    diverged = ", ".join(f"{NAMES[c]} {sel['diverged'][c]}" for c in CELLS)
    units = hidden_size_sentence(sel)
    head = [
        "# Reproduction report",
        "",
        f"Profile `{sel['profile']}`, seed {sel['seed']}, {sel['plan']['epochs']} epochs. "
        f"Runs kept (lowest best validation loss): {kept}. Diverged runs: {diverged}.",
        "",
        protocol_sentence(sel),
        "",
        *([units, ""] if units else []),
        data_sentence(data_record),
        "",
        "Agreement rules: Table 1 - the paper's average lies inside our min-max over runs; "
        "Table 2 - the same verdict on significance at p < 0.05; failure modes - the same "
        "dominant first-failure class on the zigzag set. The worst case over every Dyck word has "
        "no paper value and is not compared. Figures: fig1.png, fig2.png, fig3.png, fig4.png.",
        "",
        "## Summary",
        "",
    ]
    if disagreements:
        head.append(f"{len(disagreements)} disagreement(s) with the paper:")
        head += [f"- {d}" for d in disagreements]
    else:
        head.append("Every compared number agrees with the paper under the rules above.")
    luck = seed_luck_sentence(root)
    if luck:
        head += ["", luck]
    text = "\n".join(head) + "\n\n" + "\n\n".join(sections) + "\n"
    write_text_atomic(root / "report.md", text)
    return [root / "report.md"]


if __name__ == "__main__":
    sys.exit(run_module(make, doc=__doc__))
