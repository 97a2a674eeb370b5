"""PNG plots of a diagnosis (matplotlib, Agg backend, written atomically).

- counter.png     the counter (in unit steps) on zigzag j=500 (or the closest j), with the
                  exact construction's counter and the depth overlaid, first failure marked
                  (hidden size > 1: the counter projected on the depth probe's direction);
                  below it the drift counter/u - depth. Words longer than MAX_POINTS
                  tokens are drawn as the min / max of each of MAX_POINTS / 2 bins (every
                  spike stays visible; a 10^6-token word draws in well under a second).
- steps.png       mean Δ+(d)/u and -Δ-(d)/u against the depth d before the token (exact: 1).
- saturation.png  per gate, the histogram of log10(1 - |gate|) over all probe tokens, with
                  the share exactly saturated (ReLU: the pre-activation instead).
- failures.png    first-failure position of every sequence, one row per probe set,
                  coloured by class.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from counting.fileformat import atomic_path  # noqa: E402
from probes.counter import drift  # noqa: E402
from probes.failures import CLASSES  # noqa: E402
from probes.probesets import pick_zigzag, zigzag_j  # noqa: E402
from probes.reference import reference_trace  # noqa: E402
from probes.unroll import GATE_KEYS  # noqa: E402

MAX_POINTS = 20_000  # points per curve of counter.png (longer words: min / max per bin)

CLASS_COLORS = {"early": "tab:orange", "at-zero": "tab:red", "depth-dependent": "tab:purple",
                "other": "tab:gray"}


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _unit_ok(u) -> bool:
    return u is not None and np.isfinite(u)


def thin(y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a curve y (T,) over x = 0..T-1 to draw: itself if T <= max_points, else
    the min and the max of each of max_points / 2 equal bins, at the bin's first index
    (NaN in a bin gives NaN, as matplotlib would show a gap)."""
    y = np.asarray(y)
    T = y.shape[0]
    if T <= max_points:
        return np.arange(T), y
    starts = np.linspace(0, T, max_points // 2, endpoint=False).astype(np.int64)
    lo, hi = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    return np.repeat(starts, 2), np.column_stack([lo, hi]).ravel()


def _exact_counter(rep, sets, name, b, ref, dtype) -> np.ndarray:
    """The exact construction's counter on sequence b of set `name` (the ReLU's for a GRU):
    from `ref` ({set: reference trace}) where given, else traced on that one word."""
    if ref is not None and ref.get(name) is not None:
        return ref[name].sequence(b).counter
    import torch

    cell = rep["cell"] if rep["cell"] in ("lstm", "relu") else "relu"
    return reference_trace(cell, [sets[name][b]], getattr(torch, dtype)).sequence(0).counter


def plot_counter(path, rep, sets, traces, ref=None) -> None:
    name = "zigzag" if "zigzag" in sets else next(iter(sets))
    b = pick_zigzag(sets[name]) if name == "zigzag" else 0
    tr = traces[name].sequence(b)
    exact = _exact_counter(rep, sets, name, b, ref, traces[name].dtype)
    u = rep["unit_step"]
    scale = u if _unit_ok(u) else 1.0
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1]})
    ax.plot(*thin(tr["depth"]), color="0.8", lw=5, label="depth")
    ax.plot(*thin(exact), "--", color="k", lw=1, label="exact construction")
    ax.plot(*thin(tr.counter / scale), color="tab:blue", lw=1.2,
            label=f"model counter / u (u = {scale:.4g})" if _unit_ok(u) else "model counter")
    fails = [f for f in rep["failures"] if f["set"] == name and f["sequence"] == b]
    for a in (ax, ax2):
        for f in fails:
            a.axvline(f["position"], color=CLASS_COLORS[f["class"]], lw=1)
    if fails:
        ax.plot([], [], color=CLASS_COLORS[fails[0]["class"]],
                label=f"first failure ({fails[0]['class']}) at {fails[0]['position']}")
    label = f"zigzag j={zigzag_j(sets[name][b])}" if name == "zigzag" else f"{name}[0]"
    var = tr.counter_key if tr.projection is None else f"{tr.counter_key} along the depth probe"
    ax.set_title(f"{rep['cell'].upper()} counter ({var}) on {label}")
    ax.set_ylabel("counter (unit steps)")
    ax.legend(loc="upper right", fontsize=8)
    ax2.plot(*thin(drift(tr, scale)), color="tab:green", lw=1)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_ylabel("drift (steps)" if _unit_ok(u) else "counter - depth\n(no unit step)")
    ax2.set_xlabel("token index")
    _save(fig, path)


def plot_steps(path, rep) -> None:
    bd = rep["by_depth"]
    u = rep["unit_step"]
    scale = u if _unit_ok(u) else 1.0
    d = np.asarray(bd["depth"], dtype=float)
    inc = np.asarray([np.nan if v is None else v for v in bd["increment"]], float) / scale
    dec = -np.asarray([np.nan if v is None else v for v in bd["decrement"]], float) / scale
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(d + 1, inc, ".", ms=3, color="tab:blue", label="Δ+(d) / u  on '('")
    ax.plot(d + 1, dec, ".", ms=3, color="tab:red", label="-Δ-(d) / u  on ')'")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="exact construction")
    ax.set_xscale("log")
    ax.set_xlabel("depth before the token + 1")
    ax.set_ylabel("step (unit steps)" if _unit_ok(u) else "step (raw)")
    ratio = rep["ratio"]
    ratio = "n/a" if ratio is None or not np.isfinite(ratio) else f"{ratio:.4g}"
    ax.set_title(f"{rep['cell'].upper()} increments and decrements by depth "
                 f"(u = {scale:.4g}, ratio -Δ-/Δ+ = {ratio})")
    ax.legend(fontsize=8)
    _save(fig, path)


def _values(traces, key) -> np.ndarray:
    v = np.concatenate([np.atleast_2d(t[key][..., t.unit])[np.atleast_2d(t.mask)]
                        for t in traces.values()])
    return v[np.isfinite(v)]


def plot_saturation(path, rep, traces) -> None:
    cell = rep["cell"]
    if cell == "relu":  # no gates: show how often the ReLU clips instead
        v = _values(traces, "pre")
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.hist(v, bins=60, color="tab:blue")
        ax.axvline(0, color="k", lw=0.8)
        clipped = 100 * np.mean(v < 0) if v.size else 0.0
        ax.set_title(f"ReLU pre-activation: {clipped:.1f}% of tokens clipped (< 0)", fontsize=9)
        ax.set_xlabel("pre (a ReLU has no gates to saturate)")
        ax.set_ylabel("tokens")
        _save(fig, path)
        return
    keys = GATE_KEYS[cell]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys) + 1, 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        v = _values(traces, key)
        dist = 1.0 - np.abs(v)
        n = max(v.size, 1)
        logd = np.log10(dist[dist > 0]) if np.any(dist > 0) else np.zeros(0)
        logd = np.clip(logd, -16.99, 0)
        ax.hist(logd, bins=np.linspace(-17, 0, 69), weights=np.full(logd.size, 1 / n),
                color="tab:blue", label="1 - |gate| > 0")
        sat = float(np.mean(dist == 0)) if v.size else 0.0
        ax.bar(-18.5, sat, width=1.0, color="tab:green", label="exactly saturated")
        ax.set_xticks([-18.5, -15, -10, -5, 0], ["exact", "-15", "-10", "-5", "0"])
        ax.set_ylim(0, 1.05)
        st = rep["saturation"][key]
        text = f"gate {key}: {100 * sat:.1f}% saturated"
        con = st.get("construction") or {}
        if con.get("share_saturated") is not None and np.isfinite(con["share_saturated"]):
            text += f"\n(construction: {100 * con['share_saturated']:.0f}%)"
        ax.set_title(text, fontsize=9)
        ax.set_xlabel(f"log10(1 - |{key}|)")
    axes[0][0].set_ylabel("share of tokens")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{cell.upper()} gate saturation over all probe tokens "
                 f"(values in {traces[next(iter(traces))].dtype})")
    fig.tight_layout()
    _save(fig, path)


def plot_failures(path, rep, sets) -> None:
    names = list(sets)
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.2 + 1.4 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        fails = [f for f in rep["failures"] if f["set"] == name]
        for cls in CLASSES:
            pts = [f for f in fails if f["class"] == cls]
            if pts:
                ax.scatter([f["position"] for f in pts], [f["sequence"] for f in pts], s=18,
                           color=CLASS_COLORS[cls], label=f"{cls} ({len(pts)})")
        n = len(sets[name])
        ax.set_xlim(0, max(map(len, sets[name])))
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_ylabel(f"{name}\nsequence", fontsize=8)
        if name in ("zigzag", "nested") and n <= 12:
            key = "j" if name == "zigzag" else "D"
            ax.set_yticks(range(n), [f"{key}={zigzag_j(s)}" for s in sets[name]], fontsize=7)
        if fails:
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        else:
            ax.text(0.5, 0.5, "no failures", transform=ax.transAxes, ha="center", va="center")
    axes[-1, 0].set_xlabel("first-failure position (0-based token index = FPF)")
    fig.suptitle(f"{rep['cell'].upper()} first failures: {rep['verdict']}")
    fig.tight_layout()
    _save(fig, path)


def write_plots(out_dir, rep, sets, traces, ref=None) -> list[str]:
    """Write the four PNGs into out_dir; returns their file names. ref: {set: the exact
    construction's trace} where already made (else counter.png traces its one word)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_counter(out_dir / "counter.png", rep, sets, traces, ref)
    plot_steps(out_dir / "steps.png", rep)
    plot_saturation(out_dir / "saturation.png", rep, traces)
    plot_failures(out_dir / "failures.png", rep, sets)
    return ["counter.png", "steps.png", "saturation.png", "failures.png"]
