"""A compiled batch version of `counting.generators.pcfg_word` (the Suzgun et al. sampler).

`pcfg_batch(u, max_len, p, q, max_words)` runs the same iterative program as `pcfg_word`,
but reads its uniforms from the array `u` instead of calling `rng.random()` once per draw,
and writes the words as ASCII bytes. Word w uses the uniforms u[ends[w-1]:ends[w]], exactly
the ones `pcfg_word` would have drawn, so a caller that hands over `rng.random(N)` and then
re-positions the generator after the last word it keeps gets the same words and the same
generator state as the scalar loop (see `counting.generators.pcfg_words`; tested draw for
draw against it).

Layout of the program state: a stack of frames (kind W = wrap, C = concatenate; the frame's
current_size; for C whether the left child is done; the position in the scratch buffer where
the frame's output starts). All outputs are written left to right into one scratch buffer;
a call whose result is longer than max_len truncates the buffer back to its start (the
sampler's "collapse to ''"). Stack and scratch have a fixed capacity (growing them inside
the loop costs a factor of ~3 in reference counting); a derivation that needs more makes
`pcfg_batch` report overflow, and the caller retries with a larger capacity.
"""

from __future__ import annotations

import numpy as np

from counting.jit import njit  # numba.njit, after choosing the cache directory

OPEN, CLOSE = 40, 41  # ord('('), ord(')')
_WRAP, _CONCAT = 0, 1


@njit(cache=True)
def pcfg_batch(u, max_len, p, q, max_words, capacity):
    """Words drawn from the uniforms `u` (float64, in draw order) until `max_words` words
    are done or `u` runs out in the middle of a word.

    Returns (k, words, lengths, ends): k complete words; words (max_words, max_len) uint8,
    row w holding word w's ASCII bytes in its first lengths[w] columns; ends[w] = the number
    of uniforms of `u` used by words 0..w. k = -1 if a derivation needed more than
    `capacity` stack frames or scratch bytes (retry with a larger capacity).
    """
    words = np.zeros((max_words, max(max_len, 1)), np.uint8)
    lengths = np.zeros(max_words, np.int64)
    ends = np.zeros(max_words, np.int64)
    kind = np.empty(capacity, np.int64)
    size = np.empty(capacity, np.int64)
    stage = np.empty(capacity, np.int64)
    begin = np.empty(capacity, np.int64)
    buf = np.empty(capacity, np.uint8)
    n_u = u.shape[0]
    i = 0  # next uniform
    pq = p + q
    for w in range(max_words):
        top = 0  # frames on the stack
        pos = 0  # scratch length
        pending = 0  # current_size of the call about to start
        starting = True
        while True:
            if starting:
                starting = False
                cur = pending
                if cur < max_len:
                    if i >= n_u:
                        return w, words, lengths, ends
                    x = u[i]
                    i += 1
                    if x < p or x < pq:
                        if top == capacity or pos == capacity:
                            return -1, words, lengths, ends
                        kind[top] = _WRAP if x < p else _CONCAT
                        size[top] = cur
                        stage[top] = 0
                        begin[top] = pos
                        top += 1
                        if x < p:
                            buf[pos] = OPEN
                            pos += 1
                            pending = cur + 2
                        else:
                            pending = cur
                        starting = True
                        continue
                # the call returned '' (size limit reached, or the empty rule)
            # a call has returned (its result ends the scratch); hand it to its parent
            if top == 0:
                break
            f = top - 1
            if kind[f] == _WRAP:
                if pos == capacity:
                    return -1, words, lengths, ends
                buf[pos] = CLOSE
                pos += 1
                if pos - begin[f] > max_len:
                    pos = begin[f]
                top -= 1
            elif stage[f] == 0:  # left child done; start the right one
                stage[f] = 1
                pending = size[f]
                starting = True
            else:
                if pos - begin[f] > max_len:
                    pos = begin[f]
                top -= 1
        words[w, :pos] = buf[:pos]
        lengths[w] = pos
        ends[w] = i
    return max_words, words, lengths, ends


@njit(cache=True)
def conditioned_word(u, half, inside, p, q, out):
    """One word of `counting.generators.conditioned_pcfg_word`, from the uniforms `u`.

    Writes the word's 2 half ASCII bytes to out[: 2 half] and returns how many uniforms it
    used (one per symbol of half-length >= 1, so never more than 2 half - 1). The
    arithmetic is that function's, operation for operation (the split weights are summed
    left to right, as numpy's cumsum does), so the words are the same.
    """
    n = 2 * half
    for i in range(n):
        out[i] = OPEN
    stack_pos = np.empty(n + 2, np.int64)
    stack_k = np.empty(n + 2, np.int64)
    cum = np.empty(max(half, 1), np.float64)
    stack_pos[0], stack_k[0] = 0, half
    top, used = 1, 0
    while top > 0:
        top -= 1
        pos, k = stack_pos[top], stack_k[top]
        if k == 0:
            continue
        wrap_w = p * inside[k - 1]
        split_total = inside[k] * (1.0 - 2.0 * q * inside[0]) - wrap_w
        positive = 0.0 if 0.0 > split_total else split_total  # Python's max(x, 0.0)
        x = u[used] * (wrap_w + positive)
        used += 1
        if x < wrap_w or k == 1:
            out[pos + 2 * k - 1] = CLOSE
            stack_pos[top], stack_k[top] = pos + 1, k - 1
            top += 1
            continue
        acc = 0.0
        for i in range(k - 1):  # weights of a = 1..k-1: (q inside[a]) inside[k-a]
            w = q * inside[1 + i] * inside[k - 1 - i]
            acc = w if i == 0 else acc + w
            cum[i] = acc
        target = (x - wrap_w) / split_total * cum[k - 2]
        lo, hi = 0, k - 1  # searchsorted(cum, target, side="right")
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] <= target:
                lo = mid + 1
            else:
                hi = mid
        a = min(1 + lo, k - 1)
        stack_pos[top], stack_k[top] = pos + 2 * a, k - a
        stack_pos[top + 1], stack_k[top + 1] = pos, a
        top += 2
    return used
