"""`counting reproduce`: the whole study in one command.

1. generate the datasets, or take given ones (`--data DIR`, a `DataSource`) (DIR/data, kept
   if already there for the same profile and seed / the same given sets; what was used
   -> results/data.json);
2. run the sweep (10 LSTM, 30 ReLU, 10 GRU; 30 epochs) - resumable, see counting.sweep;
3. keep, per cell, the runs with the lowest best validation loss (all LSTM and GRU runs,
   the best 10 of 30 ReLU runs)                                  -> results/selection.json;
4. evaluate each kept run's best-by-validation model on train / validation / long (sequence
   accuracy) and very long (FPF)                              -> results/best_models.csv;
5. the checkpoints after epochs 1, 5, 10, 15, 20, 25 of the kept runs (60 models per cell):
   losses on train / validation / long (as the sweep recorded them) and very-long FPF
   -> results/stage_models.csv; their FPF on each zigzag word -> results/zigzag.csv;
6. classify each first failure on the zigzag set with the probes -> results/failures.csv;
   the worst case over every Dyck word up to 1000 tokens (probes.verify) of each kept run's
   best model and each stage model -> results/worst_case.csv (paper_figs.worst_case);
7. write the tables, figures and report.md (paper_figs.table1 ... paper_figs.report); the
   figures are drawn in a second process while steps 5-7 run (paper_figs.figure_worker).

`reproduce(..., timings={})` reports the wall time of each stage (benchmarks/
bench_reproduce.py). `reproduce(..., hidden_size=H)` (1-8; `--hidden-size`) trains every run
with H units (results/selection.json then records "hidden_size"; H = 1 writes exactly what
it always did); the failure classes of step 6 need only the outputs and the true depth, so
they apply at any H.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from counting.checkpoint import load_checkpoint
from counting.datasets import PROFILES, SET_NAMES, load_datasets, write_datasets
from counting.fileformat import write_json_atomic
from paper_figs import failure_modes, fig1, fig2, fig3, fig4, report, table1, table2, worst_case
from paper_figs.data_source import DataSource, generated_data, given_data
from paper_figs.figure_worker import FigureWorker
from paper_figs.layout import (
    BEST_COLUMNS,
    FAILURE_COLUMNS,
    STAGE_COLUMNS,
    WORST_CASE_COLUMNS,
    ZIGZAG_COLUMNS,
    results_dir,
    write_csv,
)
from paper_figs.paper_values import CELLS
from paper_figs.stacked_forward import stackable, stacked_outputs


@dataclass(frozen=True)
class Plan:
    runs: tuple[int, int, int]  # LSTM, ReLU, GRU
    keep: int  # runs kept per cell (the best by validation loss)
    epochs: int
    stage_epochs: tuple[int, ...]  # checkpoints evaluated for Table 2 / Fig 1 / Fig 3


PLANS = {
    "paper": Plan(runs=(10, 30, 10), keep=10, epochs=30, stage_epochs=(1, 5, 10, 15, 20, 25)),
    "smoke": Plan(runs=(2, 3, 2), keep=2, epochs=5, stage_epochs=(1, 5)),
}


def resolve_protocol(protocol=None) -> dict:
    """The protocol of a reproduction as its three switches {"selection", "sessions",
    "stage_epochs"} (`counting.training.protocol_values`): protocol None / "paper" /
    "authors", or a dict of switches (missing ones from "paper")."""
    from counting.training import PROTOCOLS, protocol_values

    if isinstance(protocol, dict):
        bad = sorted(set(protocol) - set(PROTOCOLS["paper"]))
        if bad:
            raise ValueError(f"unknown protocol switch(es) {bad}")
        values = protocol_values(None, **protocol)
    elif protocol is None or protocol in PROTOCOLS:
        values = protocol_values(protocol)
    else:
        raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {protocol!r}")
    from counting.training import SELECTIONS, SESSIONS, STAGE_EPOCHS

    for key, allowed in (("selection", SELECTIONS), ("sessions", SESSIONS),
                         ("stage_epochs", tuple(STAGE_EPOCHS))):
        if values[key] not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {values[key]!r}")
    return values


def protocol_plan(plan: Plan, protocol: dict) -> Plan:
    """The plan under `protocol` (resolved): under stage_epochs "authors", the stage models
    are those after epochs 1, 6, 11, 16, 21, 26 (the ones within the plan's epochs)."""
    from counting.training import STAGE_EPOCHS

    if protocol["stage_epochs"] == "paper":
        return plan
    return replace(plan, stage_epochs=tuple(e for e in STAGE_EPOCHS[protocol["stage_epochs"]]
                                            if e <= plan.epochs))


def _zigzag_j(word: str) -> int:
    return word.index(")")


def _data(out: Path, profile: str, seed: int, progress: bool, data) -> DataSource:
    """The sets to use, also written to DIR/data (kept if already there: dataset.json)."""
    data_dir = out / "data"
    stamp = data_dir / "dataset.json"
    old = json.loads(stamp.read_text()) if stamp.is_file() else None
    if data is None:
        want = {"profile": profile, "seed": seed}
        if old == want:
            sets = load_datasets(data_dir, SET_NAMES, required=SET_NAMES)
            return DataSource(sets, {"source": "generated", "profile": profile, "seed": seed})
        source = generated_data(profile, seed, progress)
    else:
        source = data if isinstance(data, DataSource) else given_data(data)
        want = {"source": "given", "sha256": source.record()["sha256"]}
        if old == want:
            return source
    write_datasets(data_dir, source.sets)
    write_json_atomic(stamp, want)
    return source


def _rank_loss(r: dict):
    """The loss runs are ranked by: the true mean validation loss of the best epoch
    (best_validation_loss_mean, under selection "authors" where best_validation_loss is the
    authors' logged one-word loss), else best_validation_loss."""
    v = r.get("best_validation_loss_mean")
    return r["best_validation_loss"] if v is None or v == "" else v


def select_runs(rows: list[dict], keep: int) -> dict[str, list[dict]]:
    """Per cell, the `keep` runs with the lowest best validation loss (runs with no finite
    best validation loss are never kept). Under selection "authors" the runs are ranked by
    the true mean validation loss of their best (logged-loss) epoch."""
    kept = {}
    for cell in CELLS:
        ok = [
            r
            for r in rows
            if r["cell"] == cell
            and r["best_validation_loss"] is not None
            and math.isfinite(float(r["best_validation_loss"]))
            and math.isfinite(float(_rank_loss(r)))
        ]
        ok.sort(key=lambda r: (float(_rank_loss(r)), r["run"]))
        kept[cell] = ok[:keep]
    return kept


def _evaluate(models, seqs):
    from counting.engine import evaluate_many

    return evaluate_many(models, seqs) if models else []


class _Clock:
    """Wall time of each stage, and this process's CPU time in it (all threads) under
    "<stage> cpu", added to `timings` (a dict) when one is given."""

    def __init__(self, timings: dict | None):
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            if self.timings is not None:
                t = self.timings
                t[stage] = t.get(stage, 0.0) + time.perf_counter() - t0
                t[f"{stage} cpu"] = t.get(f"{stage} cpu", 0.0) + time.process_time() - c0


def _best_models(kept, sets, progress) -> list[dict]:
    """Step 4: each kept run's best-by-validation model on train / validation / long /
    very long -> rows of results/best_models.csv (all cells evaluated together)."""
    runs = [r for cell in CELLS for r in kept[cell]]
    models = [load_checkpoint(Path(r["dir"]) / "best.pt")[0]
              for r in tqdm(runs, desc="best models", disable=not progress)]
    ev = {name: _evaluate(models, sets[name]) for name in ("train", "validation", "long",
                                                          "very_long")}
    rows = []
    for cell in CELLS:
        for name in ev:
            for i, r in enumerate(runs):
                if r["cell"] != cell:
                    continue
                m = ev[name][i]
                rows.append({
                    "cell": cell, "run": r["run"], "seed": r["seed"], "epoch": r["best_epoch"],
                    "set": name, **{k: m[k] for k in ("n", "accuracy", "fpf", "fully_right",
                                                      "loss")},
                })
    return rows


def _validation_curves(kept, histories) -> dict:
    """{cell: {run: [validation loss per epoch]}} of the kept runs -> results/histories.json."""
    return {
        cell: {
            str(r["run"]): [e.get("validation_loss") for e in histories[r["dir"]]["epochs"]
                            if e.get("validation_loss") is not None]
            for r in kept[cell]
        }
        for cell in CELLS
    }


def _stage_models(kept, plan, histories, progress) -> list[tuple]:
    """The checkpoints after the plan's stage epochs of the kept runs ->
    [(run row, epoch, model, history record of that epoch)] in cell, run, epoch order."""
    entries = []
    for cell in CELLS:
        for r in tqdm(kept[cell], desc=f"stage models {cell}", disable=not progress):
            h = histories[r["dir"]]
            records = {e["epoch"]: e for e in h["epochs"]}
            for ep in plan.stage_epochs:
                path = Path(r["dir"]) / "checkpoints" / f"epoch_{ep:02d}.pt"
                if path.is_file():  # a diverged run has no checkpoints after divergence
                    entries.append((r, ep, load_checkpoint(path)[0], records.get(ep, {})))
    return entries


LOSS_SETS = ("train", "validation", "long")


def _stage_losses(entries, sets, histories) -> dict[str, list[float]]:
    """Losses of the stage models on train / validation / long. A run trained by the fast
    engine recorded exactly these numbers in its history (the same kernel on the same
    parameters, after the epoch whose checkpoint this is; tested bit for bit), so they are
    read from there; otherwise the models are evaluated."""
    from_history = all(
        histories[r["dir"]].get("backend") == "fast"
        and all(rec.get(f"{k}_loss") is not None for k in LOSS_SETS)
        for r, _, _, rec in entries
    )
    if from_history:
        return {k: [rec[f"{k}_loss"] for *_, rec in entries] for k in LOSS_SETS}
    models = [e[2] for e in entries]
    return {k: [m["loss"] for m in _evaluate(models, sets[k])] for k in LOSS_SETS}


def _failures(entries, zigzag_words, zig_j, progress) -> list[dict]:
    """Step 6: the first failure of each stage model on each zigzag word, classified by
    the probes -> rows of results/failures.csv. The outputs of a cell's models are computed
    all at once (paper_figs.stacked_forward) where the models allow it."""
    from probes import classify_failures

    rows = []
    for cell in tqdm(CELLS, desc="failure modes", disable=not progress):
        mine = [e for e in entries if e[0]["cell"] == cell]
        models = [e[2] for e in mine]
        outs = stacked_outputs(models, zigzag_words) if stackable(models) else None
        for i, (r, ep, model, _) in enumerate(mine):
            out = None if outs is None else outs[i]
            for f in classify_failures(model, zigzag_words, "zigzag", out=out):
                rows.append({
                    "cell": cell, "run": r["run"], "epoch": ep, "sequence": f["sequence"],
                    "j": zig_j[f["sequence"]], "position": f["position"], "depth": f["depth"],
                    "peak": f["peak"], "class": f["class"],
                })
    return rows


def reproduce(out="reproduction", profile="paper", seed=0, jobs=None, progress=True,
              data=None, timings: dict | None = None, figure_process: bool = True,
              hidden_size: int = 1, protocol=None) -> list[Path]:
    """Run the pipeline; returns the output files written. Resumable.

    data: None to generate the sets (profile, seed); a directory holding the five set
    files; or a `paper_figs.data_source.DataSource`. The profile still sets the plan (runs,
    epochs, stage epochs) and the seed the sweep. timings: a dict that receives the wall
    time in seconds of each stage ("data", "sweep", ..., "total"; "<stage> cpu": this
    process's CPU time in it). figure_process: draw the
    figures in a second process while this one evaluates (False: draw them here).
    hidden_size: units of every model, 1 (the paper's) to counting.models.MAX_HIDDEN.
    protocol: None or "paper" (ours, the default: exactly what it always wrote), "authors"
    (the authors' selection, sessions and stage epochs; `resolve_protocol`), or a dict of
    those switches; recorded in results/selection.json ("protocol") and named in report.md.
    """
    from counting.models import MAX_HIDDEN
    from counting.sweep import run_sweep

    if profile not in PLANS:
        raise ValueError(f"profile must be one of {sorted(PLANS)}, got {profile!r}")
    if not isinstance(hidden_size, int) or not 1 <= hidden_size <= MAX_HIDDEN:
        raise ValueError(f"hidden_size must be an integer from 1 to {MAX_HIDDEN}, "
                         f"got {hidden_size!r}")
    protocol = resolve_protocol(protocol)
    plan, out = protocol_plan(PLANS[profile], protocol), Path(out)
    clock = _Clock(timings)
    with clock("total"):
        res = results_dir(out)
        with clock("data"):
            source = _data(out, profile, seed, progress, data)
            sets = source.sets
        with clock("sweep"):
            rows = run_sweep(sets, out / "sweep", jobs=jobs, progress=progress,
                             **_sweep_args(plan, seed, hidden_size, protocol))
        with FigureWorker(figure_process) as figures:
            with clock("best models"):
                kept = _select_and_record(rows, plan, profile, seed, source, res, hidden_size,
                                          protocol)
                histories = {r["dir"]: json.loads((Path(r["dir"]) / "history.json")
                                                  .read_text())
                             for cell in CELLS for r in kept[cell]}
                best_rows = _best_models(kept, sets, progress)
                write_csv(res / "best_models.csv", BEST_COLUMNS, best_rows)
                write_json_atomic(res / "histories.json", _validation_curves(kept, histories))
            fig2_done = figures.submit(fig2, out)
            with clock("stage models"):
                entries = _stage_models(kept, plan, histories, progress)
                stage_rows, zig_rows = _stage_rows(entries, sets, histories)
                write_csv(res / "stage_models.csv", STAGE_COLUMNS, stage_rows)
                write_csv(res / "zigzag.csv", ZIGZAG_COLUMNS, zig_rows)
            fig1_done, fig3_done = figures.submit(fig1, out), figures.submit(fig3, out)
            with clock("failures"):
                zig_j = [_zigzag_j(w) for w in sets["zigzag"]]
                fail_rows = _failures(entries, sets["zigzag"], zig_j, progress)
                write_csv(res / "failures.csv", FAILURE_COLUMNS, fail_rows)
            with clock("worst case"):
                wc_rows = worst_case.verify_rows(kept, entries, best_rows, stage_rows, progress)
                write_csv(res / "worst_case.csv", WORST_CASE_COLUMNS, wc_rows)
            fig4_done = figures.submit(fig4, out)
            with clock("tables and report"):
                made = {m: m.make(out) for m in (table1, table2, failure_modes, report)}
            with clock("figures (waiting)"):
                made.update({fig1: fig1_done(), fig2: fig2_done(), fig3: fig3_done(),
                             fig4: fig4_done()})
    written = []
    for module in (table1, table2, fig1, fig2, fig3, fig4, failure_modes, report):
        written += made[module]
    return written


def _sweep_args(plan: Plan, seed: int, hidden_size: int = 1, protocol=None) -> dict:
    """The sweep of a reproduction (counting.sweep.run_sweep / plan_sweep arguments); the
    protocol's training switches only where they differ from the paper protocol's."""
    args = {"cells": CELLS, "runs": plan.runs, "epochs": plan.epochs, "seed": seed,
            "hidden_size": hidden_size}
    protocol = resolve_protocol(protocol)
    if protocol["selection"] != "mean":
        args["selection"] = protocol["selection"]
    if protocol["sessions"] != "one":
        args["sessions"] = protocol["sessions"]
    if protocol["stage_epochs"] != "paper":
        from counting.training import STAGE_EPOCHS

        args["checkpoint_epochs"] = STAGE_EPOCHS[protocol["stage_epochs"]]
    return args


def plan_seed(out, profile="paper", seed=0, data=None, progress=True, hidden_size: int = 1,
              protocol=None):
    """Steps 1-2 of `reproduce(out, profile, seed, data=data, hidden_size=...)` set up, not
    trained: the data (written to DIR/data as `reproduce` writes it) and its sweep's plan
    (`counting.sweep.plan_sweep`; `.batch` holds the engine's runs). For a command that
    trains the sweeps of many reproductions as one grid over an executor (`counting
    robustness`): `reproduce` called afterwards finds its sweep trained."""
    from counting.sweep import plan_sweep

    if profile not in PLANS:
        raise ValueError(f"profile must be one of {sorted(PLANS)}, got {profile!r}")
    out = Path(out)
    protocol = resolve_protocol(protocol)
    source = _data(out, profile, seed, progress, data)
    return plan_sweep(source.sets, out / "sweep",
                      **_sweep_args(protocol_plan(PLANS[profile], protocol), seed, hidden_size,
                                    protocol))


def _select_and_record(rows, plan, profile, seed, source, res,
                       hidden_size: int = 1, protocol=None) -> dict[str, list[dict]]:
    """Step 3: keep the best runs per cell -> results/selection.json (with "hidden_size"
    when it is not 1, "protocol" when it is not the paper's); the data's record ->
    results/data.json."""
    from counting.training import protocol_name

    kept = select_runs(rows, plan.keep)
    units = {} if hidden_size == 1 else {"hidden_size": hidden_size}
    protocol = resolve_protocol(protocol)
    if protocol_name(protocol) != "paper":
        units["protocol"] = {"name": protocol_name(protocol), **protocol}
    keys = ("run", "seed", "dir", "best_epoch", "best_validation_loss")
    if protocol["selection"] != "mean":
        keys += ("best_validation_loss_mean",)
    write_json_atomic(
        res / "selection.json",
        {
            "profile": profile,
            "seed": seed,
            **units,
            "plan": asdict(plan),
            "runs_trained": {c: sum(r["cell"] == c for r in rows) for c in CELLS},
            "diverged": {
                c: sum(bool(r["diverged"]) for r in rows if r["cell"] == c) for c in CELLS
            },
            "cells": {
                c: [
                    {k: r[k] for k in keys}
                    for r in kept[c]
                ]
                for c in CELLS
            },
        },
    )
    write_json_atomic(res / "data.json", source.record())
    return kept


def _stage_rows(entries, sets, histories) -> tuple[list[dict], list[dict]]:
    """Step 5: rows of results/stage_models.csv and results/zigzag.csv."""
    models = [e[2] for e in entries]
    losses = _stage_losses(entries, sets, histories)
    very_long = _evaluate(models, sets["very_long"])
    zig = _evaluate(models, sets["zigzag"])
    zig_j = [_zigzag_j(w) for w in sets["zigzag"]]
    stage_rows, zig_rows = [], []
    for i, (r, ep, _, rec) in enumerate(entries):
        stage_rows.append({
            "cell": r["cell"], "run": r["run"], "seed": r["seed"], "epoch": ep,
            "train_loss": losses["train"][i], "validation_loss": losses["validation"][i],
            "long_loss": losses["long"][i], "train_loss_online": rec.get("train_loss_online"),
            "very_long_fpf": very_long[i]["fpf"],
            "very_long_fully_right": very_long[i]["fully_right"],
        })
        for k, fpf in enumerate(zig[i]["fpfs"]):
            zig_rows.append({"cell": r["cell"], "run": r["run"], "epoch": ep, "j": zig_j[k],
                             "length": len(sets["zigzag"][k]), "fpf": fpf})
    return stage_rows, zig_rows


__all__ = ["PLANS", "PROFILES", "Plan", "plan_seed", "protocol_plan", "reproduce",
           "resolve_protocol", "select_runs"]
