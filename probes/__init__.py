"""Probes: why does one particular counting RNN fail? Measure it token by token against
its exact construction.

    tr = probes.trace(model, seq)               # per-step states and gates (probes.tracing)
    tb = probes.trace_batch(model, seqs)        # the same with a batch axis, padded
    probes.classify_failures(model, seqs, "zigzag")   # first failure of each sequence
    probes.summarize_classes(failures)          # {"early", "at-zero", "depth-dependent", "other"}
    probes.verdict(summary)                     # the dominant class or "no failure"
    rep = probes.diagnose(model, sets=None, out_dir=None)   # the JSON report (+ plots)
    dp = probes.depth_probe(model, sets=None)   # linear depth probe (probes.linear_probe):
    dp.r2, dp.direction, dp.unit_share, dp.residual_by_depth, dp.apply(trace)
    probes.verify(model, max_length=1000)       # worst case over all Dyck words (worstcase)

`constructions` is imported only when a reference is needed (the failure classes, the
construction's gate values, distance_from_ideal).
"""

from probes.counter import drift, drift_summary, step_summary, steps
from probes.failures import CLASSES, classify_failures, summarize_classes, verdict
from probes.linear_probe import DepthProbe, depth_probe, fit_depth_probe
from probes.probesets import default_probe_sets, load_probe_sets
from probes.report import diagnose, text_summary
from probes.saturation import gate_stats, saturation
from probes.tracing import Trace, trace, trace_batch
from probes.worstcase import verify

__all__ = [
    "CLASSES", "DepthProbe", "Trace", "classify_failures", "default_probe_sets",
    "depth_probe", "diagnose", "drift", "drift_summary", "fit_depth_probe", "gate_stats",
    "load_probe_sets", "saturation", "step_summary", "steps", "summarize_classes",
    "text_summary", "trace", "trace_batch", "verdict", "verify",
]
