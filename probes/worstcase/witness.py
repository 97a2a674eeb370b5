"""Failing words: replay on the torch module, shorten, classify, write compactly.

Every failure verify reports has been replayed here through `model(x)` (x one-hot, the
module's own forward in its dtype) and found wrong there at `position`. A candidate the
torch module gets right (the replica and torch can disagree in the last bit at a knife
edge) is dropped.
"""

from __future__ import annotations

import numpy as np
import torch

from counting.dyck import depth_profile, one_hot
from counting.metrics import THRESHOLD


def run_length(word: str) -> str:
    """The word as runs of equal brackets, separated by single spaces; a run of n > 1
    equal brackets is written `(^n` / `)^n`, a single bracket as itself:
    "(((())))" -> "(^4 )^4", "()(())" -> "( ) (^2 )^2", "" -> ""."""
    runs = []
    i = 0
    while i < len(word):
        j = i
        while j < len(word) and word[j] == word[i]:
            j += 1
        n = j - i
        runs.append(word[i] if n == 1 else f"{word[i]}^{n}")
        i = j
    return " ".join(runs)


@torch.no_grad()
def torch_outputs(model, word: str) -> np.ndarray:
    """(T, 2) float64: the module's own outputs on `word` (computed in its dtype)."""
    x = torch.as_tensor(one_hot(word), dtype=model.dtype)
    return model(x).double().numpy()


def wrong_tokens(out: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(T,) bool: the README's token rule violated (NaN is wrong)."""
    pred = out > THRESHOLD
    return (~pred[:, 0]) | (pred[:, 1] != (depth > 0)) | ~np.all(np.isfinite(out), axis=1)


def replay(model, prefix: str) -> dict | None:
    """Replay a Dyck prefix, closed with ')' * depth, on the torch module. If a token is
    wrong, return the shortest balanced word with the same first wrong token (the prefix up
    to it, closed): {"word", "length", "position", "depth", "peak", "class", "outputs",
    "run_length"}; None if every token is right."""
    from probes.failures import classify, peak_since_zero

    depth = depth_profile(prefix)
    word = prefix + ")" * int(depth[-1] if len(depth) else 0)
    out = torch_outputs(model, word)
    depth = depth_profile(word)
    bad = np.flatnonzero(wrong_tokens(out, depth))
    if bad.size == 0:
        return None
    t = int(bad[0])
    d = int(depth[t])
    short = word[: t + 1] + ")" * d
    if short != word:  # the same prefix, so the same first wrong token: checked, not assumed
        out = torch_outputs(model, short)
        depth = depth_profile(short)
        bad = np.flatnonzero(wrong_tokens(out, depth))
        if bad.size == 0 or int(bad[0]) != t:
            raise RuntimeError(f"the torch module is not causal on {short!r}")
    out_t = out[t]
    peak = peak_since_zero(depth, t)
    return {
        "word": short, "length": len(short), "position": t, "depth": d, "peak": peak,
        "class": classify(out_t, d, peak),
        "outputs": [float(out_t[0]), float(out_t[1])],
        "run_length": run_length(short),
    }
