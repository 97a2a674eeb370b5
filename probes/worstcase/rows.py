"""One row t of the search over (position t, depth d): numba kernels.

Row t holds, for every depth d of the right parity (d = t + 1 mod 2) up to the row's
`dmax`, the set of states of every Dyck prefix of length t + 1 ending at depth d, as up
to K *clusters*. A cluster is

    box[d, k]   encloses torch's states of the cluster (sound): (h_lo, h_hi, 0, 0) for ReLU and
                GRU, (o_lo, o_hi, c_lo, c_hi) for the LSTM (`cells.image`)
    rep[d, k, s]  concrete states (h, c, o) computed by the replica (o: the LSTM's output
                gate), s = 0: least h, 1: largest h, 2: least c, 3: largest c (LSTM; ReLU
                and GRU use s = 0, 1): candidate extremes, each with a word
    code[d, k, s]  its back-pointer: (tok * K + k') * SLOTS + s' (the token, and the parent's
                cluster and slot in row t - 1 at depth d - 1 ('(') or d + 1 (')'))

A cell's clusters come from its two parents' clusters, one image each (`cells.image`);
overlapping clusters are merged, then the closest ones until at most K remain. Merging is
sound (the hull of two enclosures encloses both) and only loses precision.
"""

from __future__ import annotations

import numpy as np

from counting.engine.jit import kernel
from counting.engine.jit import kernel as jit
from probes.worstcase.cells import (
    LSTM,
    h_range,
    image,
    readout_status,
    replica,
    replica_wrong,
)

SLOTS = 4
MERGE_OVERLAPS = False


@jit
def _less(v, best):
    """v beats `best` as a minimum; NaN beats everything (a NaN state is a witness)."""
    if best != best:
        return False
    return v != v or v < best


@jit
def _more(v, best):
    if best != best:
        return False
    return v != v or v > best


@jit
def _pick(reps, codes, m_from, m_to, out_rep, out_code, R):
    """Choose the R extreme slots among candidate states reps[m_from:m_to] (rows of
    (h, c, o)) into out_rep (R, 3) / out_code (R,)."""
    for s in range(R):
        best = m_from
        coord = 0 if s < 2 else 1
        for j in range(m_from + 1, m_to):
            v, b = reps[j, coord], reps[best, coord]
            if (s % 2 == 0 and _less(v, b)) or (s % 2 == 1 and _more(v, b)):
                best = j
        for q in range(3):
            out_rep[s, q] = reps[best, q]
        out_code[s] = codes[best]


@jit
def _hull_rep(box, rep, R, is_lstm):
    """Enlarge box (4,) to contain the concrete states rep[:R] (always sound)."""
    for s in range(R):
        x = rep[s, 2] if is_lstm else rep[s, 0]  # o (LSTM) or h
        c = rep[s, 1]
        if x == x:
            box[0] = min(box[0], x)
            box[1] = max(box[1], x)
        if is_lstm and c == c:
            box[2] = min(box[2], c)
            box[3] = max(box[3], c)


@jit
def _finite_box(cb, i):
    return (cb[i, 0] == cb[i, 0] and cb[i, 1] == cb[i, 1] and cb[i, 2] == cb[i, 2]
            and cb[i, 3] == cb[i, 3])


@jit
def _merge_into(cb, cr, cc, i, j, R, is_lstm):
    """Cluster i := hull of clusters i and j (boxes; the extreme slots of both). A box with
    a NaN bound (an enclosure that was lost) makes the hull NaN."""
    if _finite_box(cb, i) and _finite_box(cb, j):
        cb[i, 0] = min(cb[i, 0], cb[j, 0])
        cb[i, 1] = max(cb[i, 1], cb[j, 1])
        cb[i, 2] = min(cb[i, 2], cb[j, 2])
        cb[i, 3] = max(cb[i, 3], cb[j, 3])
    else:
        for q in range(4):
            cb[i, q] = np.nan
    for s in range(R):
        coord = 0 if s < 2 else 1
        v, b = cr[j, s, coord], cr[i, s, coord]
        if (s % 2 == 0 and _less(v, b)) or (s % 2 == 1 and _more(v, b)):
            for q in range(3):
                cr[i, s, q] = cr[j, s, q]
            cc[i, s] = cc[j, s]


@jit
def _move(cb, cr, cc, i, j, R):
    """Cluster i := cluster j."""
    for q in range(4):
        cb[i, q] = cb[j, q]
    for s in range(R):
        for q in range(3):
            cr[i, s, q] = cr[j, s, q]
        cc[i, s] = cc[j, s]


@jit
def _width(lo, hi):
    w = hi - lo
    return w if w == w else np.inf


@jit
def _merge_cost(cb, i, j, is_lstm):
    """Growth of the hull over the two boxes (h width + c width; NaN boxes merge first)."""
    cost = (_width(min(cb[i, 0], cb[j, 0]), max(cb[i, 1], cb[j, 1]))
            - _width(cb[i, 0], cb[i, 1]) - _width(cb[j, 0], cb[j, 1]))
    if is_lstm:
        cost += (_width(min(cb[i, 2], cb[j, 2]), max(cb[i, 3], cb[j, 3]))
                 - _width(cb[i, 2], cb[i, 3]) - _width(cb[j, 2], cb[j, 3]))
    return cost if cost == cost else -np.inf


@jit
def _overlap(cb, i, j, is_lstm):
    ok = cb[i, 0] <= cb[j, 1] and cb[j, 0] <= cb[i, 1]
    if is_lstm:
        ok = ok and cb[i, 2] <= cb[j, 3] and cb[j, 2] <= cb[i, 3]
    return ok


@jit
def _key(cb, i, is_lstm):
    v = cb[i, 2] if is_lstm else cb[i, 0]
    return v if v == v else -np.inf


@jit
def _reduce(cb, cr, cc, m, K, R, is_lstm):
    """Sort the m clusters by c_lo (LSTM) or h_lo, merge overlapping neighbours, then the
    cheapest neighbours until at most K remain. Row 2K of the scratch is a temporary.
    Returns the new count (clusters 0..count-1)."""
    tmp = cb.shape[0] - 1
    for i in range(1, m):  # insertion sort (m <= 2K)
        j = i
        while j > 0 and _key(cb, j - 1, is_lstm) > _key(cb, j, is_lstm):
            _move(cb, cr, cc, tmp, j, R)
            _move(cb, cr, cc, j, j - 1, R)
            _move(cb, cr, cc, j - 1, tmp, R)
            j -= 1
    if m > 1:
        out = 0
        for j in range(1, m):
            if (MERGE_OVERLAPS and _overlap(cb, out, j, is_lstm)) or not _finite_box(
                    cb, out) or not _finite_box(cb, j):
                _merge_into(cb, cr, cc, out, j, R, is_lstm)
            else:
                out += 1
                if out != j:
                    _move(cb, cr, cc, out, j, R)
        m = out + 1
    while m > K:
        bi, best = 0, np.inf
        for i in range(m - 1):
            cost = _merge_cost(cb, i, i + 1, is_lstm)
            if cost < best:
                bi, best = i, cost
        _merge_into(cb, cr, cc, bi, bi + 1, R, is_lstm)
        for j in range(bi + 1, m - 1):
            _move(cb, cr, cc, j, j + 1, R)
        m -= 1
    return m


@kernel
def advance(cell, P, num, K, t, dmax_prev, dmax, pn, pbox, prep,
            n, box, rep, code, status, cand, cb, cr, cc, tmp_rep, tmp_code):
    """Compute row t (depths d <= dmax of parity t + 1) from row t - 1 (p* arrays, valid up
    to dmax_prev). Writes n, box, rep, code; status[d] (0 certified, 1 undecided, 2 surely
    wrong: the worst over the cell's clusters) and cand[d] (k * SLOTS + s of the first
    concrete state whose replica outputs are wrong, else -1).

    Scratch: cb (2K + 1, 4), cr (2K + 1, SLOTS, 3), cc (2K + 1, SLOTS) int32, tmp_rep (SLOTS, 3),
    tmp_code (SLOTS,) int32. Returns (boxes computed, cells not certified, cells with a
    candidate).
    """
    is_lstm = cell == LSTM
    R = 4 if is_lstm else 2
    is32 = num[7] != 0.0
    images = 0
    flagged = 0
    cands = 0
    for d in range((t + 1) % 2, dmax + 1, 2):
        m = 0
        for tok in range(2):
            dp = d - 1 if tok == 0 else d + 1
            if dp < 0 or dp > dmax_prev:
                continue
            for k in range(pn[dp]):
                b = pbox[dp, k]
                h_lo, h_hi, c_lo, c_hi = image(cell, P, num, tok, b[0], b[1], b[2], b[3])
                cb[m, 0], cb[m, 1], cb[m, 2], cb[m, 3] = h_lo, h_hi, c_lo, c_hi
                for s in range(R):
                    h2, c2, o2 = replica(cell, P, is32, tok, prep[dp, k, s, 0],
                                         prep[dp, k, s, 1])
                    tmp_rep[s, 0] = h2
                    tmp_rep[s, 1] = c2
                    tmp_rep[s, 2] = o2
                    tmp_code[s] = (tok * K + k) * SLOTS + s
                _pick(tmp_rep, tmp_code, 0, R, cr[m], cc[m], R)
                _hull_rep(cb[m], cr[m], R, is_lstm)
                m += 1
                images += 1
        m = _reduce(cb, cr, cc, m, K, R, is_lstm)
        n[d] = m
        st = 0
        cd = -1
        for k in range(m):
            for q in range(4):
                box[d, k, q] = cb[k, q]
            for s in range(R):
                for q in range(3):
                    rep[d, k, s, q] = cr[k, s, q]
                code[d, k, s] = cc[k, s]
            h_lo, h_hi = h_range(cell, num, cb[k, 0], cb[k, 1], cb[k, 2], cb[k, 3])
            st = max(st, readout_status(P, num, h_lo, h_hi, d))
            if cd < 0:
                for s in range(R):
                    if replica_wrong(P, is32, cr[k, s, 0], d):
                        cd = k * SLOTS + s
                        break
        status[d] = st
        cand[d] = cd
        if st != 0:
            flagged += 1
        if cd >= 0:
            cands += 1
    return images, flagged, cands
