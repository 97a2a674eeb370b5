"""Gate saturation: how close each gate gets to the exact values a counter needs.

Exact counting with an LSTM needs i = f = o = 1.0 exactly and g = +-1.0 exactly (Weiss et
al. 2018), in the model's own floating-point type: a forget gate of 1 - 1e-16 in float64
already leaks. For every gate we report, over all valid tokens of the traces:

    mean, min, max, median            of the gate value
    share_saturated                   share of tokens with |gate| == 1.0 exactly
    share_zero                        share of tokens with gate == 0.0 exactly
    distance_median, distance_min     of 1 - |gate| (distance from exact saturation)
    distance_ulp_median               distance_median in units of the spacing of the model's
                                      dtype just below 1 (2^-53 float64, 2^-24 float32)

Gates: LSTM i f g o; GRU r z n (n is the candidate, like g); the ReLU has none.
Values were computed in the model's dtype (see `probes.unroll`), so "== 1.0" is the
model's own saturation.
"""

from __future__ import annotations

import numpy as np

from probes.unroll import GATE_KEYS

ULP_BELOW_ONE = {"float64": 2.0**-53, "float32": 2.0**-24}


def gate_values(traces, key: str) -> np.ndarray:
    """All valid values of gate `key` (unit `tr.unit`) over the traces, flattened (N,)."""
    parts = [np.atleast_2d(tr[key][..., tr.unit])[np.atleast_2d(tr.mask)] for tr in traces]
    return np.concatenate(parts) if parts else np.zeros(0)


def gate_stats(values: np.ndarray, dtype: str = "float64") -> dict:
    """Statistics of one gate's values (see the module docstring); NaNs when empty."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        keys = ("mean", "min", "max", "median", "share_saturated", "share_zero",
                "distance_median", "distance_min", "distance_ulp_median")
        return dict.fromkeys(keys, float("nan"))
    dist = 1.0 - np.abs(v)
    dmed = float(np.median(dist))
    return {
        "mean": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
        "median": float(np.median(v)),
        "share_saturated": float(np.mean(np.abs(v) == 1.0)),
        "share_zero": float(np.mean(v == 0.0)),
        "distance_median": dmed,
        "distance_min": float(dist.min()),
        "distance_ulp_median": dmed / ULP_BELOW_ONE.get(dtype, 2.0**-53),
    }


def saturation(traces, construction_traces=None) -> dict:
    """{gate: stats} for the traces' cell; with `construction_traces` (same sequences, of
    the exact construction of the same cell), each gate's stats get a "construction" entry
    with the construction's own stats beside them."""
    traces = list(traces)
    if not traces:
        return {}
    cell, dtype = traces[0].cell, traces[0].dtype
    out = {}
    for key in GATE_KEYS[cell]:
        stats = gate_stats(gate_values(traces, key), dtype)
        if construction_traces:
            ctr = list(construction_traces)
            stats["construction"] = gate_stats(gate_values(ctr, key), ctr[0].dtype)
        out[key] = stats
    return out
