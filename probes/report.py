"""`diagnose`: the whole probe report of one model, as a JSON-ready dict (+ plots).

Keys (floats that are undefined, e.g. the ratio of a dead counter, are JSON null):

    cell, hidden_size, dtype, counter_unit
    depth_probe         {"r2", "direction", "unit_share"} of the linear depth probe
                        (probes.linear_probe). For hidden size > 1 with a defined probe the
                        counter below is the projection u . state in depth units, and
                        counter_unit the unit of largest share (where gates are read)
    sets                {name: {"n", "tokens", "failures"}}
    unit_step, increment, decrement, ratio, by_depth           (probes.counter)
    drift_per_token     median drift slope on the zigzag set (else the first set)
    drift               {set: {"per_token", "final", "max_abs"}}
    saturation          {gate: {mean, min, max, median, share_saturated, ..., construction}}
    distance_from_ideal constructions.conditions.distance_from_ideal(model)
    failures            [{"set", "sequence", "position", "depth", "peak", "class"}]
    failures_on_open    how many first failures fall on a '(' token (the depth still rising:
                        by the rule these count as depth-dependent, but the closing run has
                        not started - e.g. a model that fails at token 0 never counted)
    summary             {"early", "at-zero", "depth-dependent", "other"} over all sets
    summary_by_set      {set: the same}
    verdict             dominant class, "no failure", or "no counter" (a counter that does
                        not move, or a model that classifies nothing right)
    evidence            {"ratio", "drift_per_token", "forget_shortfall" (LSTM: 1 - median f),
                         "update_shortfall" (GRU: 1 - median z), "w_hh_minus_1" (ReLU)}
    verdict_text        one sentence naming the class and the evidence
    worst_case          probes.verify(model, max_length=worst_case_length): the worst case
                        over every Dyck word up to that length (the same dict as `counting
                        verify --json`; docs/verify.md); absent with worst_case_length=None
    plots               file names written to out_dir (only with out_dir)
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from tqdm.auto import tqdm

from counting.dyck import DyckError, validate
from counting.models import dtype_name
from probes.counter import drift_summary, step_summary
from probes.failures import (
    EXPLANATION,
    NO_COUNTER,
    classify_failures,
    no_counter_reason,
    summarize_classes,
    verdict,
)
from probes.linear_probe import depth_probe_text, fit_depth_probe
from probes.probesets import default_probe_sets
from probes.reference import reference_trace
from probes.saturation import saturation
from probes.tracing import trace_batch


def _check_sets(sets) -> dict[str, list[str]]:
    if not isinstance(sets, dict) or not sets:
        raise ValueError("sets must be a non-empty dict {name: list of bracket strings}")
    out = {}
    for name, seqs in sets.items():
        seqs = [seqs] if isinstance(seqs, str) else list(seqs)
        if not seqs:
            continue
        for k, s in enumerate(seqs):
            try:
                validate(s, balanced=False)
            except DyckError as err:
                raise ValueError(f"probe set {name!r}, sequence {k}: {err}") from None
            if not s:
                raise ValueError(f"probe set {name!r}, sequence {k} is empty")
        out[name] = seqs
    if not out:
        raise ValueError("every probe set is empty")
    return out


def json_clean(obj):
    """Replace non-finite floats by None and numpy scalars by Python ones, recursively."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _distance_from_ideal(model) -> dict:
    """constructions' symbolic conditions on the model; {"unavailable": why} where they do
    not apply (they are derived for hidden size 1)."""
    from constructions.conditions import distance_from_ideal

    try:
        return distance_from_ideal(model)
    except ValueError as err:
        return {"unavailable": str(err)}
    except Exception as err:  # noqa: BLE001 - an auxiliary field must not sink the report
        msg = f"distance_from_ideal failed on this model: {type(err).__name__}: {err}"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return {"unavailable": msg}


def _evidence(model, rep: dict) -> dict:
    ev = {"ratio": rep["ratio"], "drift_per_token": rep["drift_per_token"]}
    sat = rep["saturation"]
    if model.cell == "lstm":
        ev["forget_shortfall"] = 1.0 - sat["f"]["median"]
    elif model.cell == "gru":
        ev["update_shortfall"] = 1.0 - sat["z"]["median"]
    else:
        u = rep["counter_unit"]
        ev["w_hh_minus_1"] = float(model.rnn.weight_hh_l0[u, u].item()) - 1.0
    return ev


def _fmt(x, spec=".4g") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, spec)


def verdict_text(rep: dict) -> str:
    v, s = rep["verdict"], rep["summary"]
    n = sum(s.values())
    ev = rep["evidence"]
    parts = [f"ratio -Δ-/Δ+ = {_fmt(ev['ratio'])}",
             f"drift {_fmt(ev['drift_per_token'], '+.3g')} steps/token"]
    names = {"forget_shortfall": "forget-gate shortfall 1 - f", "w_hh_minus_1": "W_hh - 1",
             "update_shortfall": "update-gate shortfall 1 - z"}
    parts += [f"{names[k]} = {_fmt(ev[k], '.3g')}" for k in names if k in ev]
    if v == NO_COUNTER:
        why = no_counter_reason(rep["unit_step"], rep["failures"], _n_sequences(rep))
        return (f"{v}: {why}; {EXPLANATION[v]}. {n} first failures are recorded; "
                + ", ".join(parts) + ".")
    head = v if v == "no failure" else f"{v} ({s[v]} of {n} first failures)"
    return f"{head}: {EXPLANATION[v]}; " + ", ".join(parts) + "."


def _construction_saturation(model, sets) -> dict:
    """{gate: probes.saturation stats} of the exact construction of an LSTM on the sets
    (what `saturation(traces, construction_traces)` puts under "construction"); {} for the
    other cells (the ReLU has no gates, the GRU no construction). Computed before the
    model is traced, and its traces dropped after: on a word of 10^6 tokens each trace is
    ~50 MB, so the two are never held at once."""
    if model.cell != "lstm":
        return {}
    ref = [reference_trace(model.cell, seqs, model.dtype) for seqs in sets.values()]
    return saturation(ref)


def _n_sequences(rep: dict) -> int:
    return sum(s["n"] for s in rep["sets"].values())


WORST_CASE_LENGTH = 1000  # the verify length of a diagnosis (issue 10)


def diagnose(model, sets=None, out_dir=None, progress: bool = False,
             worst_case_length: int | None = WORST_CASE_LENGTH) -> dict:
    """Probe `model` on `sets` ({name: words}; default `default_probe_sets()`).

    Returns the report dict described in the module docstring (JSON-ready). With
    `out_dir`, also writes the PNG plots there (see `probes.plots`). worst_case_length:
    the N of the "worst_case" key (`probes.verify`); None leaves the key out.
    """
    sets = _check_sets(default_probe_sets() if sets is None else sets)
    cell = model.cell
    construction_sat = _construction_saturation(model, sets)
    traces, unit = {}, None
    for name, seqs in tqdm(sets.items(), desc="probe", unit="set", disable=not progress):
        traces[name] = trace_batch(model, seqs, unit, progress=progress)
        unit = traces[name].unit
    probe = fit_depth_probe(traces.values())
    if model.hidden_size > 1 and probe.defined:  # measure along u; hidden size 1: raw counter
        traces = {name: probe.apply(tr) for name, tr in traces.items()}
        unit = probe.dominant_unit
    rep = {"cell": cell, "hidden_size": model.hidden_size, "dtype": dtype_name(model.dtype),
           "counter_unit": unit}
    rep["depth_probe"] = probe.to_json()
    steps = step_summary(list(traces.values()))
    by_depth = steps.pop("by_depth")
    rep.update(steps)
    u = rep["unit_step"]
    rep["drift"] = {name: drift_summary(tr, u) for name, tr in traces.items()}
    main = "zigzag" if "zigzag" in sets else next(iter(sets))
    rep["drift_per_token"] = rep["drift"][main]["per_token"]
    rep["by_depth"] = by_depth
    rep["saturation"] = saturation(traces.values())
    for gate, stats in construction_sat.items():
        rep["saturation"][gate]["construction"] = stats
    rep["distance_from_ideal"] = _distance_from_ideal(model)
    failures = []
    for name, seqs in sets.items():
        failures += classify_failures(model, seqs, name, tr=traces[name])
    rep["failures"] = failures
    rep["failures_on_open"] = sum(
        int(traces[f["set"]]["token"][f["sequence"], f["position"]] == 0) for f in failures
    )
    rep["summary"] = summarize_classes(failures)
    rep["summary_by_set"] = {
        name: summarize_classes([f for f in failures if f["set"] == name]) for name in sets
    }
    rep["sets"] = {
        name: {"n": len(seqs), "tokens": int(sum(map(len, seqs))),
               "failures": sum(rep["summary_by_set"][name].values())}
        for name, seqs in sets.items()
    }
    rep["verdict"] = verdict(rep["summary"],
                             no_counter_reason(rep["unit_step"], failures, _n_sequences(rep)))
    rep["evidence"] = _evidence(model, rep)
    rep["verdict_text"] = verdict_text(rep)
    if worst_case_length is not None:
        from probes.worstcase import verify

        rep["worst_case"] = verify(model, worst_case_length, progress=progress)
    if out_dir is not None:
        from probes.plots import write_plots

        rep["plots"] = write_plots(out_dir, rep, sets, traces)
    return json_clean(rep)


def text_summary(rep: dict) -> str:
    """A short human-readable summary of a report."""
    lines = [
        f"cell {rep['cell']} (hidden {rep['hidden_size']}, {rep['dtype']}), counter unit "
        f"{rep['counter_unit']}",
        f"unit step {_fmt(rep['unit_step'])}; increment {_fmt(rep['increment'])}, decrement "
        f"{_fmt(rep['decrement'])}, ratio -Δ-/Δ+ {_fmt(rep['ratio'])}",
        "drift per token (steps): " + ", ".join(
            f"{k} {_fmt(v['per_token'], '+.3g')}" for k, v in rep["drift"].items()),
    ]
    if "depth_probe" in rep:  # second line: where the count lives
        key = "c" if rep["cell"] == "lstm" else "h"
        lines.insert(1, depth_probe_text(rep["depth_probe"], rep["hidden_size"], key))
    for gate, st in rep["saturation"].items():
        line = (f"gate {gate}: mean {_fmt(st['mean'])}, min {_fmt(st['min'])}, saturated "
                f"{100 * (st['share_saturated'] or 0):.1f}%")
        if "construction" in st:
            c = st["construction"]
            line += (f"  (construction: mean {_fmt(c['mean'])}, saturated "
                     f"{100 * (c['share_saturated'] or 0):.1f}%)")
        lines.append(line)
    for name, s in rep["sets"].items():
        by = rep["summary_by_set"][name]
        lines.append(f"{name}: {s['failures']} of {s['n']} sequences fail; "
                     + ", ".join(f"{k} {v}" for k, v in by.items()))
    if rep["failures_on_open"]:
        lines.append(f"{rep['failures_on_open']} first failures fall on a '(' (depth still "
                     "rising: the counter never got going there)")
    lines.append("verdict: " + rep["verdict_text"])
    if rep.get("worst_case") is not None:
        lines.append(worst_case_text(rep["worst_case"]))
    return "\n".join(lines)


def worst_case_text(res: dict) -> str:
    """The worst-case line of the summary: `probes.worstcase.summary_line`, e.g. "right on
    every Dyck word up to length 46; shortest word it gets wrong: (^24 )^24 (48 tokens),
    fails at token 46 (early)". A method "bound" result (hidden size > 1) says so even
    where its certificate and failing word happen to meet."""
    from probes.worstcase import summary_line

    line = summary_line(res)
    if res["method"] == "bound" and "(method: bound)" not in line:
        line += (f" (method: bound, hidden size {res['hidden_size']}; its certificate and "
                 "failing word meet here)")
    return line
