"""Cutting a grid of runs into tasks for a cluster executor.

    plan_chunks(groups, slots, min_weight) -> [(group index, [item indexes])]

groups: per group (runs that may share a task, e.g. one batch), the weight of each item (its
estimated work). Items are cut, in their order, into consecutive chunks of about `target`
weight:

    target = min(max(total / (3 * slots), min_weight), 4 * min_weight, total / slots)

- at least `min_weight`, so that a task's fixed cost stays a small share of its work;
- about 3 chunks per slot where the work allows it, so that the last tasks to finish end
  close together, and at most 4 * min_weight, so that a killed task or driver loses little;
- but never fewer chunks than slots when the whole grid is small (then a task's fixed cost
  weighs more, and every slot works).

A group's last chunk lighter than target / 2 joins the chunk before it. Chunks come out
heaviest first (the longest-processing-time-first order keeps the tail short).
"""

from __future__ import annotations


def chunk_target(total: float, slots: int, min_weight: float) -> float:
    """The weight a chunk is cut at (see the module docstring)."""
    if slots < 1 or min_weight <= 0:
        raise ValueError(f"need slots >= 1 and min_weight > 0, got {slots}, {min_weight}")
    return min(max(total / (3 * slots), min_weight), 4 * min_weight, total / slots)


def plan_chunks(groups: list[list[float]], slots: int,
                min_weight: float) -> list[tuple[int, list[int]]]:
    total = float(sum(sum(g) for g in groups))
    if any(w < 0 for g in groups for w in g):
        raise ValueError("weights must be >= 0")
    if not any(groups):
        return []
    target = chunk_target(total, slots, min_weight)
    chunks: list[tuple[int, list[int], float]] = []
    for gi, weights in enumerate(groups):
        first = len(chunks)
        items, weight = [], 0.0
        for i, w in enumerate(weights):
            items.append(i)
            weight += w
            if weight >= target:
                chunks.append((gi, items, weight))
                items, weight = [], 0.0
        if items:
            if len(chunks) > first and weight < target / 2:
                g, prev, w = chunks[-1]
                chunks[-1] = (g, prev + items, w + weight)
            else:
                chunks.append((gi, items, weight))
    chunks.sort(key=lambda c: -c[2])
    return [(g, items) for g, items, _ in chunks]
