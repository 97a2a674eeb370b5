"""Generators of Dyck-1 words. All are iterative (no recursion limit) and seeded by a
`numpy.random.Generator`.

- `pcfg_word`: the Suzgun et al. (2019) PCFG sampler, step for step:
      S -> ( S )  with p = 0.5      (the child sees current_size + 2)
      S -> S S    with q = 0.25     (both children see current_size)
      S -> ''     otherwise
  `current_size >= max_len` returns '' without drawing, and a subtree longer than `max_len`
  collapses to ''. `pcfg_words` adds rejection to [min_len, max_len] and ordered deduplication.
- `conditioned_pcfg_word`: the same grammar (without the truncation rules) conditioned on an
  exact length n, sampled exactly with the inside algorithm over lengths.
The list versions `pcfg_words` and `conditioned_pcfg_words` run compiled copies of these
samplers (`counting.pcfg_kernel`) on batches of uniforms, with the same words and the same
generator state afterwards as the Python samplers, which remain the reference (tested).
- `zigzag`, `nested`, `uniform_word`: structured and uniformly random words.
"""

from __future__ import annotations

import functools

import numpy as np

from counting.dyck import DyckError

P_WRAP = 0.5
Q_CONCAT = 0.25
_PCFG_BATCH = (1 << 16, 1 << 12)  # pcfg_words: uniforms per batch, stack/scratch capacity


# --------------------------------------------------------------------------- Suzgun PCFG
def pcfg_word(rng: np.random.Generator, max_len: int, p: float = P_WRAP, q: float = Q_CONCAT):
    """One sample of `generate(0, max_len)` of Suzgun et al., without recursion.

    Each stack frame is [kind, current_size, stage, left_part]; kind 'W' wraps one child in
    brackets, 'C' concatenates two children. Random numbers are drawn in the recursive
    program's order (one uniform per call that is not cut off by the size limit).
    """
    stack: list[list] = []
    # `result` carries the value returned by the most recently finished call.
    result: str | None = None
    pending = 0  # current_size of a call waiting to start, or None
    start = True
    while True:
        if start:
            cur = pending
            start = False
            if cur >= max_len:
                result = ""
            else:
                u = rng.random()
                if u < p:
                    stack.append(["W", cur, 0, ""])
                    pending, start = cur + 2, True
                    continue
                elif u < p + q:
                    stack.append(["C", cur, 0, ""])
                    pending, start = cur, True
                    continue
                result = ""
        # a call has returned `result`; hand it to its parent frame
        if not stack:
            return result
        frame = stack[-1]
        if frame[0] == "W":
            sample = "(" + result + ")"
            stack.pop()
            result = sample if len(sample) <= max_len else ""
        elif frame[2] == 0:  # first child of a concatenation done; start the second
            frame[2], frame[3] = 1, result
            pending, start = frame[1], True
        else:
            sample = frame[3] + result
            stack.pop()
            result = sample if len(sample) <= max_len else ""


def count_dyck_words(min_len: int, max_len: int) -> int:
    """Number of Dyck-1 words with min_len <= length <= max_len (sum of Catalan numbers)."""
    total, catalan = 0, 1  # catalan = C_k, the number of words of length 2k
    for k in range(0, max_len // 2 + 1):
        if 2 * k >= min_len:
            total += catalan
        catalan = catalan * 2 * (2 * k + 1) // (k + 2)
    return total


def pcfg_words(
    rng: np.random.Generator,
    n: int,
    min_len: int,
    max_len: int,
    *,
    exclude: set[str] | frozenset[str] = frozenset(),
    progress=None,
) -> list[str]:
    """`n` distinct PCFG words with min_len <= length <= max_len, in order of generation.

    Words in `exclude` are skipped (used to keep splits disjoint). `progress`, if given, is
    called with 1 for each accepted word (e.g. a tqdm bar's `update`).

    The words and the generator's state afterwards are exactly those of calling
    `pcfg_word(rng, max_len)` until n words are accepted; the samples are drawn by the
    compiled `counting.pcfg_kernel.pcfg_batch` from batches of uniforms.
    """
    if min_len > max_len:
        raise ValueError(f"min_len {min_len} > max_len {max_len}")
    if max_len < 2 or n < 0:
        raise ValueError("need max_len >= 2 and n >= 0")
    available = count_dyck_words(min_len, max_len)
    if n > available:
        raise ValueError(
            f"asked for {n} distinct words of length {min_len}-{max_len}, "
            f"but only {available} Dyck-1 words have such lengths"
        )
    from counting.pcfg_kernel import pcfg_batch  # numba: imported on first use

    seen: set[str] = set()
    out: list[str] = []
    chunk, capacity = _PCFG_BATCH
    while len(out) < n:
        state = rng.bit_generator.state
        u = rng.random(chunk)
        k, words, lengths, ends = pcfg_batch(u, max_len, P_WRAP, Q_CONCAT, 4096, capacity)
        if k <= 0:  # one derivation needed more uniforms (k = 0) or more capacity (k = -1)
            rng.bit_generator.state = state
            if k == 0:
                chunk *= 2
            else:
                capacity *= 2
            continue
        used = int(ends[k - 1])
        for b in np.flatnonzero(lengths[:k] >= min_len):
            w = words[b, : lengths[b]].tobytes().decode("ascii")
            if w not in seen and w not in exclude:
                seen.add(w)
                out.append(w)
                if progress is not None:
                    progress(1)
                if len(out) == n:
                    used = int(ends[b])
                    break
        # Re-position the generator just after the last word used, as if each of its
        # uniforms had been drawn one by one (Generator.random(m) = m scalar draws).
        rng.bit_generator.state = state
        rng.random(used)
    return out


# ------------------------------------------------------------- length-conditioned PCFG
@functools.lru_cache(maxsize=8)
def _inside_table(half_max: int, p: float, q: float) -> np.ndarray:
    """inside[k] = P(S derives some word of length 2k), k = 0..half_max (untruncated PCFG).

    inside[0] solves e = (1-p-q) + q e^2; for k >= 1 the rule S -> S S with an empty side
    refers back to inside[k] itself, which is solved for:
        inside[k] (1 - 2 q e) = p inside[k-1] + q sum_{a=1}^{k-1} inside[a] inside[k-a].
    """
    e = (1.0 - np.sqrt(1.0 - 4.0 * q * (1.0 - p - q))) / (2.0 * q)
    inside = np.zeros(half_max + 1)
    inside[0] = e
    denom = 1.0 - 2.0 * q * e
    for k in range(1, half_max + 1):
        split = float(np.dot(inside[1:k], inside[k - 1 : 0 : -1])) if k > 1 else 0.0
        inside[k] = (p * inside[k - 1] + q * split) / denom
    inside.setflags(write=False)
    return inside


def conditioned_pcfg_word(
    rng: np.random.Generator, n: int, p: float = P_WRAP, q: float = Q_CONCAT
) -> str:
    """A word drawn exactly from the PCFG conditioned on length `n` (n even, >= 0).

    Top-down: a symbol that must yield 2k tokens (k >= 1) wraps a (2k-2)-token child with
    weight p inside[k-1] or splits into 2a + 2(k-a) tokens (1 <= a < k) with weight
    q inside[a] inside[k-a]. Splits with an empty side leave the word unchanged and are
    factored out, so the distribution over *words* is exact.
    """
    if n < 0 or n % 2:
        raise ValueError(f"a Dyck-1 word has even length; got n={n}")
    half = n // 2
    inside = _inside_table(max(half, 1), p, q)
    out = np.zeros(n, dtype=np.int8)  # 0 = '(', 1 = ')'
    stack = [(0, half)]  # (start position, half-length) still to fill
    while stack:
        pos, k = stack.pop()
        if k == 0:
            continue
        wrap_w = p * inside[k - 1]
        split_total = inside[k] * (1.0 - 2.0 * q * inside[0]) - wrap_w
        u = rng.random() * (wrap_w + max(split_total, 0.0))
        if u < wrap_w or k == 1:
            out[pos + 2 * k - 1] = 1
            stack.append((pos + 1, k - 1))
            continue
        weights = q * inside[1:k] * inside[k - 1 : 0 : -1]  # a = 1..k-1
        cum = np.cumsum(weights)
        a = 1 + int(np.searchsorted(cum, (u - wrap_w) / split_total * cum[-1], side="right"))
        a = min(a, k - 1)
        stack.append((pos + 2 * a, k - a))
        stack.append((pos, a))
    return _decode(out)


def conditioned_pcfg_words(
    rng: np.random.Generator, count: int, n: int, *, exclude=frozenset(), progress=None
) -> list[str]:
    """`count` distinct length-conditioned PCFG words of length n.

    The words and the generator's state afterwards are exactly those of calling
    `conditioned_pcfg_word(rng, n)` until `count` words are accepted; each word is drawn
    by the compiled `counting.pcfg_kernel.conditioned_word` from n uniforms (more than it
    can use), after which the generator is re-positioned just after the ones it used.
    """
    if n < 0 or n % 2:
        raise ValueError(f"a Dyck-1 word has even length; got n={n}")
    from counting.pcfg_kernel import conditioned_word  # numba: imported on first use

    half = n // 2
    inside = _inside_table(max(half, 1), P_WRAP, Q_CONCAT)
    buf = np.empty(n, dtype=np.uint8)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        state = rng.bit_generator.state
        used = conditioned_word(rng.random(max(n, 1)), half, inside, P_WRAP, Q_CONCAT, buf)
        rng.bit_generator.state = state
        rng.random(used)  # = `used` scalar draws
        w = buf.tobytes().decode("ascii")
        if w not in seen and w not in exclude:
            seen.add(w)
            out.append(w)
            if progress is not None:
                progress(1)
    return out


# ------------------------------------------------------------------ structured words
def _decode(tok: np.ndarray) -> str:
    return np.where(tok == 0, ord("("), ord(")")).astype(np.uint8).tobytes().decode("ascii")


def zigzag(j: int, length: int) -> str:
    """`j` '(' then `j` ')', repeated to `length` tokens; length must be a multiple of 2j."""
    if j < 1 or length < 0 or length % (2 * j):
        raise DyckError(f"zigzag needs j >= 1 and length a multiple of 2j; got j={j}, {length=}")
    return ("(" * j + ")" * j) * (length // (2 * j))


def nested(depth: int) -> str:
    """`depth` '(' then `depth` ')': the deepest word of its length."""
    if depth < 0:
        raise DyckError(f"nesting depth must be >= 0, got {depth}")
    return "(" * depth + ")" * depth


def uniform_word(rng: np.random.Generator, n: int) -> str:
    """A Dyck-1 word of length n drawn uniformly among all Catalan(n/2) of them.

    Cycle lemma: of the rotations of a shuffled sequence of k '(' and k+1 ')', exactly one
    keeps every proper prefix at depth >= 0 - the one starting after the first minimum of
    the prefix sums. Dropping its final ')' gives a uniform Dyck word.
    """
    if n < 0 or n % 2:
        raise ValueError(f"a Dyck-1 word has even length; got n={n}")
    k = n // 2
    steps = np.concatenate([np.ones(k, np.int64), -np.ones(k + 1, np.int64)])
    rng.shuffle(steps)
    start = int(np.argmin(np.cumsum(steps))) + 1
    rotated = np.roll(steps, -start)[:-1]
    return _decode((rotated < 0).astype(np.int8))
