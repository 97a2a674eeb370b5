"""The search over (position t, depth d), row by row, for hidden size 1.

Level. A wrong token at position t of a Dyck prefix ending at depth d extends to the
balanced word prefix + ')' * d of length t + 1 + d (its *level*), and every Dyck word of
length L has only prefixes of level <= L. So

    certified length = (least level with a cell that has a wrong reachable state) - 2,

and the shortest failing word has exactly that length. The search computes rows t = 0,
1, ... (`rows.advance`), each cell d <= min(t + 1, bound - t - 1), and keeps only the
current and the previous row. A cell whose enclosure is not certified marks its level
undecided; a cell with a concrete candidate state whose replica outputs are wrong has its
word rebuilt (`trace_prefix`) and replayed on the torch module (`witness.replay`); a
confirmed failure at level L lowers the bound to L - 2 (only shorter failures matter).

Words are rebuilt by recomputing the rows up to the failing one with back-pointers kept
(`code`), within a memory budget; beyond it, rows are recomputed in segments from
snapshots (recursively), so memory stays a few rows wide at any length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from probes.worstcase.rows import SLOTS, advance, advance_rows
from probes.worstcase.witness import replay

CODE_BUDGET = 128 * 2**20  # bytes of back-pointers kept at once when rebuilding a word


class RowPair:
    """The previous and the current row of the search (numpy arrays the kernel fills)."""

    def __init__(self, cell_id: int, P: np.ndarray, num: np.ndarray, K: int, bound: int):
        # tuples, not arrays: numba passes them by value through the nested calls of the
        # kernel, where an array argument costs a reference count per call level
        self.cell_id, self.P, self.num, self.K = cell_id, tuple(map(float, P)), tuple(
            map(float, num)), K
        self.depths = bound // 2 + 3
        self.prev, self.row = self._alloc(), self._alloc()
        m = 2 * K + 1
        self.scratch = (np.empty((m, 4)), np.empty((m, SLOTS, 3)),
                        np.empty((m, SLOTS), np.int32), np.empty((SLOTS, 3)),
                        np.empty(SLOTS, np.int32))
        self.bytes_per_depth = K * (4 + 3 * SLOTS) * 8  # of a snapshot
        self.t, self.dmax = -1, 0  # the row held in `row`: before the first token
        r = self.row
        r["n"][0] = 1
        r["box"][0, 0] = 0.0
        r["rep"][0, 0] = 0.0

    def _alloc(self) -> dict:
        D, K = self.depths, self.K
        return {"n": np.zeros(D, np.int64), "box": np.zeros((D, K, 4)),
                "rep": np.zeros((D, K, SLOTS, 3)), "code": np.zeros((D, K, SLOTS), np.int32),
                "status": np.zeros(D, np.int8), "cand": np.full(D, -1, np.int32)}

    def advance(self, dmax: int) -> tuple[int, int, int]:
        """Compute row t + 1 with depths up to dmax; -> (boxes, undecided cells, candidates)."""
        self.prev, self.row = self.row, self.prev
        p, r = self.prev, self.row
        t = self.t + 1
        out = advance(self.cell_id, self.P, self.num, self.K, t, self.dmax, dmax,
                      p["n"], p["box"], p["rep"], r["n"], r["box"], r["rep"], r["code"],
                      r["status"], r["cand"], *self.scratch)
        self.t, self.dmax = t, dmax
        return out

    def advance_many(self, t_end: int, bound: int) -> tuple[int, int, int]:
        """Rows up to t_end (or the last one with cells under `bound`), stopping after a
        row with an undecided cell or a candidate; -> (boxes, undecided, candidates) of the
        last row (boxes: all rows)."""
        a, b = self.row, self.prev
        t, dmax, in_b, images, flagged, cands = advance_rows(
            self.cell_id, self.P, self.num, self.K, self.t, t_end, bound, self.dmax,
            a["n"], a["box"], a["rep"], a["code"], a["status"], a["cand"],
            b["n"], b["box"], b["rep"], b["code"], b["status"], b["cand"], *self.scratch)
        if in_b:
            self.prev, self.row = a, b
        self.t, self.dmax = t, dmax
        return images, flagged, cands

    def snapshot(self) -> tuple:
        d = self.dmax + 1
        r = self.row
        return (self.t, self.dmax, r["n"][:d].copy(), r["box"][:d].copy(),
                r["rep"][:d].copy())

    def load(self, snap: tuple) -> None:
        t, dmax, n, box, rep = snap
        d = dmax + 1
        r = self.row
        r["n"][:] = 0
        r["n"][:d], r["box"][:d], r["rep"][:d] = n, box, rep
        self.t, self.dmax = t, dmax


def row_dmax(t: int, bound: int) -> int:
    """Deepest depth of row t that a word of length <= bound can reach (< 0: none)."""
    return min(t + 1, bound - t - 1)


def trace_prefix(make_pair, bound: int, t_end: int, d: int, k: int, s: int) -> str:
    """The Dyck prefix (length t_end + 1) whose replica state is slot s of cluster k at
    (t_end, d), rebuilt from the back-pointers of a recomputation. make_pair(bound) -> a
    fresh row pair (`RowPair` or `wide.WideRowPair`)."""
    start = make_pair(bound).snapshot()
    toks, (d0, k0, s0) = _segment(make_pair, bound, start, t_end, (d, k, s))
    if (d0, k0) != (0, 0) or len(toks) != t_end + 1:
        raise RuntimeError(f"back-pointers do not lead to the empty prefix: {(d0, k0, s0)}")
    return "".join("()"[x] for x in toks)


def _segment(make_pair, bound, snap, t_end, target):
    """Tokens of rows snap.t + 1 .. t_end leading to `target` (d, k, s) at row t_end, and
    the state (d, k, s) at row snap.t they start from."""
    pair = make_pair(bound)
    pair.load(snap)
    K = pair.K
    t0 = snap[0]
    dmaxes = [row_dmax(t, bound) for t in range(t0 + 1, t_end + 1)]
    need = sum(dm + 1 for dm in dmaxes) * K * SLOTS * 4
    if need <= CODE_BUDGET or t_end - t0 <= 2:
        codes = []
        for dm in dmaxes:
            pair.advance(dm)
            codes.append(pair.row["code"][: dm + 1].copy())
        d, k, s = target
        toks = []
        for code in reversed(codes):
            c = int(code[d, k, s])
            tok, rest = divmod(c, K * SLOTS)
            k, s = divmod(rest, SLOTS)
            toks.append(tok)
            d = d - 1 if tok == 0 else d + 1
        return toks[::-1], (d, k, s)
    row_bytes = (max(dmaxes) + 1) * pair.bytes_per_depth
    m = int(np.clip(CODE_BUDGET // (2 * row_bytes), 2, t_end - t0))
    cuts = set(np.linspace(t0, t_end, m + 1).astype(int).tolist()) - {t_end}
    snaps = []
    for dm in dmaxes:
        if pair.t in cuts:
            snaps.append(pair.snapshot())
        pair.advance(dm)
    toks_all: list[int] = []
    end = t_end
    for sn in reversed(snaps):
        toks, target = _segment(make_pair, bound, sn, end, target)
        toks_all = toks + toks_all
        end = sn[0]
    return toks_all, target


@dataclass
class Run:
    """The outcome of one search with K clusters per cell."""

    K: int
    bound: int  # the final bound: every level <= bound was explored
    undecided: int | None = None  # least level with a cell not certified
    failure: dict | None = None  # the replayed shortest failure found (witness.replay)
    states: int = 0  # boxes computed
    rejected: int = 0  # candidates the torch module got right
    notes: list = field(default_factory=list)

    @property
    def certified(self) -> int:
        """Every level <= this is certified right (even)."""
        top = self.bound if self.undecided is None else min(self.bound, self.undecided - 2)
        return max(top, 0)


def search(model, make_pair, bound: int, progress: bool = False, desc: str = "verify") -> Run:
    """Explore every level <= bound (even); make_pair(bound) -> a fresh row pair (`RowPair`
    with K clusters per cell, or `wide.WideRowPair`)."""
    pair = make_pair(bound)
    run = Run(K=pair.K, bound=bound)
    bar = tqdm(total=bound, disable=not progress, desc=desc, unit="tok", leave=False)
    chunk = 512  # rows per kernel call between progress updates
    try:
        while True:
            t_before = pair.t
            images, flagged, cands = pair.advance_many(pair.t + chunk, run.bound)
            run.states += images
            bar.update(pair.t - t_before)
            if pair.t == t_before:  # no row left under the bound
                break
            t, dmax, r = pair.t, pair.dmax, pair.row
            if flagged:
                ds = np.flatnonzero(r["status"][: dmax + 1] > 0)
                level = t + 1 + int(ds[0])
                run.undecided = level if run.undecided is None else min(run.undecided, level)
            if cands:
                for d in np.flatnonzero(r["cand"][: dmax + 1] >= 0):
                    level = t + 1 + int(d)
                    if level > run.bound:
                        break
                    k, s = divmod(int(r["cand"][d]), SLOTS)
                    prefix = trace_prefix(make_pair, run.bound, t, int(d), k, s)
                    found = replay(model, prefix)
                    if found is None:
                        run.rejected += 1
                        continue
                    _check_consistent(run, found, level)
                    run.failure = found
                    run.bound = found["length"] - 2
                    bar.total = max(run.bound, t + 1)
                    break
    finally:
        bar.close()
    return run


def _check_consistent(run: Run, found: dict, level: int) -> None:
    """A replayed failure shorter than the cell it came from must not be at a level the
    search has certified - that would make the certificate wrong, a bug."""
    L = found["length"]
    if L < level and (run.undecided is None or L < run.undecided):
        raise RuntimeError(
            f"internal error: {found['word']!r} fails on the torch module at token "
            f"{found['position']}, a level ({L}) the enclosure certified; please report it")


def make_pairs(cell_id: int, P: np.ndarray, num: np.ndarray, K: int):
    """make_pair(bound) for hidden size 1 with K clusters per cell."""
    return lambda bound: RowPair(cell_id, P, num, K, bound)


__all__ = ["Run", "RowPair", "make_pairs", "search", "trace_prefix"]
