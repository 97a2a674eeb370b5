import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counting.dyck import DyckError, depth_profile, is_dyck
from counting.generators import (
    _inside_table,
    conditioned_pcfg_word,
    conditioned_pcfg_words,
    count_dyck_words,
    nested,
    pcfg_word,
    pcfg_words,
    uniform_word,
    zigzag,
)

seeds = st.integers(0, 2**32 - 1)


def recursive_suzgun(rng, cur, max_len, p=0.5, q=0.25):
    """Suzgun et al.'s recursive generator, transcribed; the oracle for the iterative one."""
    if cur >= max_len:
        return ""
    u = rng.random()
    if u < p:
        s = "(" + recursive_suzgun(rng, cur + 2, max_len) + ")"
        return s if len(s) <= max_len else ""
    if u < p + q:
        s = recursive_suzgun(rng, cur, max_len) + recursive_suzgun(rng, cur, max_len)
        return s if len(s) <= max_len else ""
    return ""


@given(seeds, st.integers(2, 60))
def test_iterative_pcfg_equals_recursive_draw_for_draw(seed, max_len):
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(5):
        assert pcfg_word(a, max_len) == recursive_suzgun(b, 0, max_len)
    assert a.random() == b.random()  # same number of draws consumed


@given(seeds, st.integers(2, 20), st.integers(10, 30))
@settings(max_examples=30, deadline=None)
def test_pcfg_words_are_distinct_balanced_and_in_bounds(seed, lo, span):
    hi = lo + span  # at least 10 more tokens: far more than 20 words exist in the range
    words = pcfg_words(np.random.default_rng(seed), 20, lo, hi)
    assert len(set(words)) == len(words) == 20
    for w in words:
        assert is_dyck(w) and lo <= len(w) <= hi and len(w) % 2 == 0


def test_count_dyck_words_is_the_catalan_sum():
    assert [count_dyck_words(2 * k, 2 * k) for k in range(6)] == [1, 1, 2, 5, 14, 42]
    assert count_dyck_words(2, 6) == 1 + 2 + 5
    with pytest.raises(ValueError, match="only 1 Dyck-1 words"):
        pcfg_words(np.random.default_rng(0), 2, 2, 2)


def test_pcfg_words_honours_exclude():
    rng = np.random.default_rng(0)
    first = pcfg_words(rng, 5, 2, 6)  # there are few words this short
    rest = pcfg_words(np.random.default_rng(0), 5, 2, 8, exclude=set(first))
    assert not set(first) & set(rest)


def test_pcfg_words_rejects_bad_bounds():
    with pytest.raises(ValueError):
        pcfg_words(np.random.default_rng(0), 1, 10, 4)


@given(seeds, st.integers(0, 300))
@settings(max_examples=50)
def test_conditioned_sampler_returns_exactly_n(seed, half):
    w = conditioned_pcfg_word(np.random.default_rng(seed), 2 * half)
    assert len(w) == 2 * half and is_dyck(w)


def test_conditioned_sampler_is_fast_and_exact_at_1e5():
    w = conditioned_pcfg_word(np.random.default_rng(1), 100_000)
    assert len(w) == 100_000 and is_dyck(w)


def test_inside_table_matches_brute_force_enumeration():
    # P(S derives a word of length 2k) by enumerating derivations to a fixed depth bound
    # is hard; instead check the defining equations, computed independently here.
    p, q = 0.5, 0.25
    ins = _inside_table(12, p, q)
    e = ins[0]
    assert math.isclose(e, (1 - p - q) + q * e * e, rel_tol=1e-14)
    for k in range(1, 13):
        rhs = p * ins[k - 1] + q * sum(ins[a] * ins[k - a] for a in range(0, k + 1))
        assert math.isclose(ins[k], rhs, rel_tol=1e-12)


def test_conditioned_distribution_matches_the_pcfg_at_length_6():
    # Exact word probabilities at n = 6 from the (untruncated) PCFG, by summing derivations
    # with the inside table; compare with empirical frequencies of the sampler.
    words = ["((()))", "(()())", "(())()", "()(())", "()()()"]
    rng = np.random.default_rng(7)
    counts = {w: 0 for w in words}
    n = 20_000
    for _ in range(n):
        counts[conditioned_pcfg_word(rng, 6)] += 1
    ins = _inside_table(3, 0.5, 0.25)
    e = ins[0]
    loop = 1 / (1 - 2 * 0.25 * e)  # factor from splits with an empty side

    def prob(w):  # probability that S derives w, for these short words
        return {
            "()": 0.5 * e * loop,
        }.get(w)

    # P(w) proportional weights, derived by hand from the grammar:
    pw = prob("()")
    pww = 0.25 * pw * pw * loop  # "()()": S -> S S split (2,2)
    p_nest2 = 0.5 * pw * loop  # "(())"
    expected = {
        "((()))": 0.5 * p_nest2 * loop,
        "(()())": 0.5 * pww * loop,
        "(())()": 0.25 * p_nest2 * pw * loop,
        "()(())": 0.25 * pw * p_nest2 * loop,
        # "()()()": splits (2,4) and (4,2), each child itself split-derived
        "()()()": 0.25 * (pw * pww + pww * pw) * loop,
    }
    total = sum(expected.values())
    assert math.isclose(total, ins[3], rel_tol=1e-12)
    for w in words:
        p_exp = expected[w] / total
        se = math.sqrt(p_exp * (1 - p_exp) / n)
        assert abs(counts[w] / n - p_exp) < 5 * se, (w, counts[w] / n, p_exp)


def test_uniform_word_is_uniform_at_length_6():
    rng = np.random.default_rng(3)
    counts = {}
    n = 10_000
    for _ in range(n):
        w = uniform_word(rng, 6)
        counts[w] = counts.get(w, 0) + 1
    assert len(counts) == 5  # Catalan(3)
    for c in counts.values():
        assert abs(c / n - 0.2) < 5 * math.sqrt(0.2 * 0.8 / n)


@given(seeds, st.integers(0, 500))
@settings(max_examples=30)
def test_uniform_word_is_dyck_of_length_n(seed, half):
    w = uniform_word(np.random.default_rng(seed), 2 * half)
    assert len(w) == 2 * half and is_dyck(w)


@given(st.integers(1, 50), st.integers(1, 10))
def test_zigzag_shape(j, reps):
    w = zigzag(j, 2 * j * reps)
    d = depth_profile(w)
    assert len(w) == 2 * j * reps and d.max() == j and is_dyck(w)
    assert np.all(d[2 * j - 1 :: 2 * j] == 0)


def test_zigzag_rejects_a_length_that_is_not_a_multiple():
    with pytest.raises(DyckError, match="multiple of 2j"):
        zigzag(3, 10)


@given(st.integers(0, 1000))
def test_nested_shape(depth):
    w = nested(depth)
    assert len(w) == 2 * depth and is_dyck(w)
    assert depth_profile(w).max(initial=0) == depth


def test_generators_are_deterministic_per_seed():
    for f in (
        lambda r: pcfg_words(r, 50, 2, 50),
        lambda r: conditioned_pcfg_word(r, 1000),
        lambda r: uniform_word(r, 1000),
    ):
        assert f(np.random.default_rng(5)) == f(np.random.default_rng(5))
    assert pcfg_words(np.random.default_rng(5), 50, 2, 50) != pcfg_words(
        np.random.default_rng(6), 50, 2, 50
    )


# ------------------------------------------- compiled list samplers vs the Python samplers
def reference_pcfg_words(rng, n, min_len, max_len, exclude=frozenset()):
    """The scalar loop the compiled `pcfg_words` replaces: `pcfg_word` until n accepted."""
    seen, out = set(), []
    while len(out) < n:
        w = pcfg_word(rng, max_len)
        if len(w) >= min_len and w not in seen and w not in exclude:
            seen.add(w)
            out.append(w)
    return out


def reference_conditioned_words(rng, count, n, exclude=frozenset()):
    seen, out = set(), []
    while len(out) < count:
        w = conditioned_pcfg_word(rng, n)
        if w not in seen and w not in exclude:
            seen.add(w)
            out.append(w)
    return out


@given(seeds, st.integers(2, 40), st.integers(0, 60), st.integers(1, 300))
@settings(max_examples=40, deadline=None)
def test_pcfg_words_equal_the_scalar_sampler_and_leave_the_same_state(seed, lo, span, n):
    hi = lo + span
    n = min(n, count_dyck_words(lo + lo % 2, hi) // 2)
    exclude = set(reference_pcfg_words(np.random.default_rng(seed + 1), min(n, 3), lo, hi))
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    assert pcfg_words(a, n, lo, hi, exclude=exclude) == reference_pcfg_words(b, n, lo, hi,
                                                                            exclude)
    assert a.random() == b.random()  # the generator is left where the scalar loop leaves it


def test_pcfg_words_retry_paths_give_the_same_words(monkeypatch):
    import counting.generators as g

    # tiny batches: words that need more uniforms than a batch, or a deeper stack than its
    # capacity, make the sampler retry with more; the words must not change
    monkeypatch.setattr(g, "_PCFG_BATCH", (8, 4))
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert g.pcfg_words(a, 200, 20, 100) == reference_pcfg_words(b, 200, 20, 100)
    assert a.random() == b.random()


def test_paper_short_and_long_sets_equal_the_scalar_sampler():
    a, b = np.random.default_rng(0), np.random.default_rng(0)
    assert pcfg_words(a, 2_000, 2, 50) == reference_pcfg_words(b, 2_000, 2, 50)
    assert pcfg_words(a, 300, 52, 100) == reference_pcfg_words(b, 300, 52, 100)
    assert a.random() == b.random()


@given(seeds, st.integers(0, 150), st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_conditioned_words_equal_the_scalar_sampler_and_leave_the_same_state(seed, half, count):
    n = 2 * half
    count = min(count, count_dyck_words(n, n))
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    assert conditioned_pcfg_words(a, count, n) == reference_conditioned_words(b, count, n)
    assert a.random() == b.random()


def test_conditioned_words_at_the_paper_length_equal_the_scalar_sampler():
    a, b = np.random.default_rng(2), np.random.default_rng(2)
    first = reference_conditioned_words(np.random.default_rng(9), 2, 1000)
    assert conditioned_pcfg_words(a, 5, 1000, exclude=set(first)) == (
        reference_conditioned_words(b, 5, 1000, exclude=set(first)))
    assert a.random() == b.random()
