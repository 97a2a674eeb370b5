"""Cutting a grid of runs into tasks for a cluster executor.

    plan_chunks(groups, slots, min_weight) -> [(group index, [item indexes])]

groups: per group (runs that may share a task, e.g. one batch), the weight of each item (its
estimated work). Items are cut, group after group and in their order, into consecutive
chunks. A chunk closes once it weighs `chunk_target(remaining, total, slots, min_weight)`,
where `remaining` is the weight not yet in a chunk when it opened:

    target = min(max(remaining / (2 * slots), min_weight), 4 * min_weight, total / slots)

- at least `min_weight`, so that a task's fixed cost stays a small share of its work;
- shrinking with the work left (guided self-scheduling): big chunks first, small ones at
  the end, so that the slots finish close together; at most 4 * min_weight, so that a
  killed task or driver loses little;
- but never fewer chunks than slots when the whole grid is small (then a task's fixed cost
  weighs more, and every slot works).

A group's last chunk lighter than half its target joins the chunk before it. Chunks come
out heaviest first (longest processing time first: the light ones fill the gaps at the end).
"""

from __future__ import annotations


def chunk_target(remaining: float, total: float, slots: int, min_weight: float) -> float:
    """The weight a chunk opened with `remaining` weight left closes at (module docstring)."""
    if slots < 1 or min_weight <= 0:
        raise ValueError(f"need slots >= 1 and min_weight > 0, got {slots}, {min_weight}")
    return min(max(remaining / (2 * slots), min_weight), 4 * min_weight, total / slots)


def plan_chunks(groups: list[list[float]], slots: int,
                min_weight: float) -> list[tuple[int, list[int]]]:
    if any(w < 0 for g in groups for w in g):
        raise ValueError("weights must be >= 0")
    total = remaining = float(sum(sum(g) for g in groups))
    chunks: list[tuple[int, list[int], float]] = []
    for gi, weights in enumerate(groups):
        first = len(chunks)
        items, weight = [], 0.0
        target = chunk_target(remaining, total, slots, min_weight)
        for i, w in enumerate(weights):
            items.append(i)
            weight += w
            if weight >= target:
                chunks.append((gi, items, weight))
                remaining -= weight
                items, weight = [], 0.0
                target = chunk_target(remaining, total, slots, min_weight)
        if items:
            if len(chunks) > first and weight < target / 2:
                g, prev, w = chunks[-1]
                chunks[-1] = (g, prev + items, w + weight)
            else:
                chunks.append((gi, items, weight))
            remaining -= weight
    chunks.sort(key=lambda c: -c[2])
    return [(g, items) for g, items, _ in chunks]
