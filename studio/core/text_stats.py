"""Per-round statistics of an online engine's answers that the hacking monitor reads (no torch)."""
from __future__ import annotations

from collections.abc import Sequence

from studio.core.rm_health import pearson


def distinct_n(texts: Sequence[str], n: int = 2) -> float | None:
    """Mean over answers of distinct word n-grams / all word n-grams (1 = no repeats); None if no answer has one."""
    ratios = []
    for text in texts:
        words = text.split()
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        if grams:
            ratios.append(len(set(grams)) / len(grams))
    return sum(ratios) / len(ratios) if ratios else None


def round_stats(texts: Sequence[str], rewards: Sequence[float]) -> dict[str, float]:
    """distinct_2 of the answers and reward_length_corr (Pearson's r of reward and length in characters
    inside the round; absent when every answer has the same length)."""
    stats = {}
    distinct = distinct_n(texts, 2)
    if distinct is not None:
        stats["distinct_2"] = distinct
    corr = pearson([float(len(t)) for t in texts], list(rewards))
    if corr is not None:
        stats["reward_length_corr"] = corr
    return stats
