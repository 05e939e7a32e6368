"""From K-way rankings to weighted (chosen, rejected) pairs, as in InstructGPT."""
from __future__ import annotations


def check_order(order: list[list[int]], k: int) -> None:
    """Raise ValueError unless `order` is best-first groups that together hold 0..k-1 exactly once."""
    if k < 2:
        raise ValueError(f"a ranking needs at least 2 responses, this comparison has {k}")
    if not isinstance(order, list) or not all(isinstance(g, list) and g for g in order):
        raise ValueError(f"ranking must be a list of non-empty groups such as [[0], [2, 1]], got {order!r}")
    flat = [i for group in order for i in group]
    if any(not isinstance(i, int) or isinstance(i, bool) for i in flat):
        raise ValueError(f"ranking positions must be integers, got {order!r}")
    if sorted(flat) != list(range(k)):
        raise ValueError(f"ranking must use each position 0..{k - 1} exactly once, got {order!r}")


def pairs_from_ranking(order: list[list[int]]) -> list[tuple[int, int, float]]:
    """Every (chosen, rejected) pair across different groups, each weighted 1/num_pairs.

    All pairs of one ranking together count as one example; responses tied in a group give no pair.
    """
    pairs = [
        (better, worse)
        for i, group in enumerate(order)
        for lower in order[i + 1:]
        for better in group
        for worse in lower
    ]
    return [(better, worse, 1 / len(pairs)) for better, worse in pairs]
