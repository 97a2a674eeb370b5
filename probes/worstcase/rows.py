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
a cluster inside another is merged into it, then the closest ones until at most K remain.
Merging is sound (the hull of two enclosures encloses both) and only loses precision.

The helpers are separately compiled kernels (`borrowing`: no reference counts), not
inlined into `advance` by numba: each is compiled once instead of once per call site
(`_merge_into` has three), which cut the cold-cache compile of the verifier by about a
quarter (benchmarks/RESULTS.md); LLVM still inlines the small ones (run time unchanged within
the noise of a shared machine).
"""

from __future__ import annotations

import numpy as np

from counting.engine.jit import borrowing, kernel
from probes.worstcase.cells import (
    LSTM,
    h_range,
    image,
    readout_status,
    replica,
    replica_wrong,
)

SLOTS = 4


@borrowing
def _less(v, best):
    """v beats `best` as a minimum; NaN beats everything (a NaN state is a witness)."""
    if best != best:
        return False
    return v != v or v < best


@borrowing
def _more(v, best):
    if best != best:
        return False
    return v != v or v > best


@borrowing
def _pick(reps, codes, R, cr, cc, m):
    """Choose the R extreme slots among the candidate states reps[:R] (rows of (h, c, o))
    into cluster m of the scratch (cr[m], cc[m])."""
    for s in range(R):
        best = 0
        coord = 0 if s < 2 else 1
        for j in range(1, R):
            v, b = reps[j, coord], reps[best, coord]
            if (s % 2 == 0 and _less(v, b)) or (s % 2 == 1 and _more(v, b)):
                best = j
        for q in range(3):
            cr[m, s, q] = reps[best, q]
        cc[m, s] = codes[best]


@borrowing
def _hull_rep(cb, cr, m, R, is_lstm):
    """Enlarge box cb[m] to contain the concrete states cr[m, :R] (always sound)."""
    for s in range(R):
        x = cr[m, s, 2] if is_lstm else cr[m, s, 0]  # o (LSTM) or h
        c = cr[m, s, 1]
        if x == x:
            cb[m, 0] = min(cb[m, 0], x)
            cb[m, 1] = max(cb[m, 1], x)
        if is_lstm and c == c:
            cb[m, 2] = min(cb[m, 2], c)
            cb[m, 3] = max(cb[m, 3], c)


@borrowing
def _finite_box(cb, i):
    return (cb[i, 0] == cb[i, 0] and cb[i, 1] == cb[i, 1] and cb[i, 2] == cb[i, 2]
            and cb[i, 3] == cb[i, 3])


@borrowing
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


@borrowing
def _move(cb, cr, cc, i, j, R):
    """Cluster i := cluster j."""
    for q in range(4):
        cb[i, q] = cb[j, q]
    for s in range(R):
        for q in range(3):
            cr[i, s, q] = cr[j, s, q]
        cc[i, s] = cc[j, s]


@borrowing
def _width(lo, hi):
    w = hi - lo
    return w if w == w else np.inf


@borrowing
def _merge_cost(cb, i, j, is_lstm):
    """Growth of the hull over the two boxes (h width + c width; NaN boxes merge first)."""
    cost = (_width(min(cb[i, 0], cb[j, 0]), max(cb[i, 1], cb[j, 1]))
            - _width(cb[i, 0], cb[i, 1]) - _width(cb[j, 0], cb[j, 1]))
    if is_lstm:
        cost += (_width(min(cb[i, 2], cb[j, 2]), max(cb[i, 3], cb[j, 3]))
                 - _width(cb[i, 2], cb[i, 3]) - _width(cb[j, 2], cb[j, 3]))
    return cost if cost == cost else -np.inf


@borrowing
def _nested(cb, i, j):
    """One of the boxes i, j contains the other (merging them loses nothing)."""
    a = cb[i, 0] <= cb[j, 0] and cb[j, 1] <= cb[i, 1] and cb[i, 2] <= cb[j, 2] and (
        cb[j, 3] <= cb[i, 3])
    b = cb[j, 0] <= cb[i, 0] and cb[i, 1] <= cb[j, 1] and cb[j, 2] <= cb[i, 2] and (
        cb[i, 3] <= cb[j, 3])
    return a or b


@borrowing
def _key(cb, i, is_lstm):
    v = cb[i, 2] if is_lstm else cb[i, 0]
    return v if v == v else -np.inf


@borrowing
def _reduce(cb, cr, cc, m, K, R, is_lstm):
    """Sort the m clusters by c_lo (LSTM) or h_lo, merge neighbours of which one contains the
    other, then the cheapest neighbours until at most K remain. (Overlapping boxes are not
    merged for overlapping alone: the hull of two thin, crossing boxes holds corners far
    from both, which the next steps map far outside the reachable set.) Row 2K of the
    scratch is a temporary.
    Returns the new count (clusters 0..count-1)."""
    if m <= 1:
        return m
    if K == 1:  # one cluster: the hull of all
        for j in range(1, m):
            _merge_into(cb, cr, cc, 0, j, R, is_lstm)
        return 1
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
            if _nested(cb, out, j) or not _finite_box(cb, out) or not _finite_box(cb, j):
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
                h_lo, h_hi, c_lo, c_hi = image(cell, P, num, tok, pbox[dp, k, 0],
                                               pbox[dp, k, 1], pbox[dp, k, 2], pbox[dp, k, 3])
                cb[m, 0], cb[m, 1], cb[m, 2], cb[m, 3] = h_lo, h_hi, c_lo, c_hi
                for s in range(R):
                    h, c = prep[dp, k, s, 0], prep[dp, k, s, 1]
                    if s > 0 and h == prep[dp, k, s - 1, 0] and c == prep[dp, k, s - 1, 1]:
                        for q in range(3):  # the same state as the slot before
                            tmp_rep[s, q] = tmp_rep[s - 1, q]
                    else:
                        h2, c2, o2 = replica(cell, P, is32, tok, h, c)
                        tmp_rep[s, 0] = h2
                        tmp_rep[s, 1] = c2
                        tmp_rep[s, 2] = o2
                    tmp_code[s] = (tok * K + k) * SLOTS + s
                _pick(tmp_rep, tmp_code, R, cr, cc, m)
                _hull_rep(cb, cr, m, R, is_lstm)
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
                    if s > 0 and cr[k, s, 0] == cr[k, s - 1, 0]:
                        continue
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


@kernel
def advance_rows(cell, P, num, K, t, t_end, bound, dmax, a_n, a_box, a_rep, a_code,
                 a_status, a_cand, b_n, b_box, b_rep, b_code, b_status, b_cand,
                 cb, cr, cc, tmp_rep, tmp_code):
    """Rows t + 1 .. up to t_end (inclusive) with depths up to min(t + 1, bound - t - 1),
    row t held in the a_* arrays (deepest depth dmax) and the b_* arrays free; the arrays
    swap roles after each row. Stops early after a row that has a cell not certified or a
    candidate. Returns (last row computed, its dmax, whether it is in the b_* arrays,
    boxes computed, undecided cells and candidates in the last row)."""
    images = 0
    in_b = False
    while t < t_end:
        dnext = min(t + 2, bound - t - 2)
        if dnext < 0:
            break
        t += 1
        if in_b:
            out = advance(cell, P, num, K, t, dmax, dnext, b_n, b_box, b_rep, a_n, a_box,
                          a_rep, a_code, a_status, a_cand, cb, cr, cc, tmp_rep, tmp_code)
        else:
            out = advance(cell, P, num, K, t, dmax, dnext, a_n, a_box, a_rep, b_n, b_box,
                          b_rep, b_code, b_status, b_cand, cb, cr, cc, tmp_rep, tmp_code)
        in_b = not in_b
        dmax = dnext
        images += out[0]
        if out[1] > 0 or out[2] > 0:
            return t, dmax, in_b, images, out[1], out[2]
    return t, dmax, in_b, images, 0, 0
