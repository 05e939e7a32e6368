"""Is the reward model right? Accuracy, calibration, score histograms, length bias and worst pairs.

Input: held-out preference pairs already scored by the reward model (`ScoredPair`); everything here
is plain Python arithmetic so the numbers can be checked by hand and shown without torch.

Calibration reads the Bradley-Terry model literally: P(chosen beats rejected) = sigmoid(score gap).
Every held-out pair has a known winner, so each pair is counted in both orientations, (gap, won)
and (-gap, lost); otherwise every empirical win rate would be 1 and the diagram would say nothing.
ECE and the Brier score are over those 2N oriented predictions (the Brier score of a pair is the
same in both orientations, so it equals the mean of (1 - sigmoid(gap))^2 over pairs).
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

LENGTH_WARNING = 0.5   # |corr(score, length)| above this: the model may be rewarding length
DEFAULT_BINS = 10


@dataclass(frozen=True)
class ScoredPair:
    """One held-out pair with the reward model's raw scores."""

    prompt: str
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    comparison_id: int | None = None

    @property
    def gap(self) -> float:
        return self.chosen_score - self.rejected_score


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions in [low, high): how many, their mean confidence, and how often they came true."""

    low: float
    high: float
    count: int
    confidence: float
    win_rate: float


@dataclass
class RMReport:
    """Everything the health panel and `studio rm-report` show."""

    pairs: int
    accuracy: float
    ece: float
    brier: float
    bins: list[ReliabilityBin]
    histogram_edges: list[float]
    chosen_histogram: list[int]
    rejected_histogram: list[int]
    length_correlation: float | None
    worst: list[ScoredPair]
    split: str = "held-out"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["worst"] = [{**asdict(p), "gap": p.gap} for p in self.worst]
        return data


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def accuracy(gaps: Sequence[float]) -> float:
    """Share of pairs the model orders right; a tie counts half."""
    return sum(1.0 if g > 0 else 0.5 if g == 0 else 0.0 for g in gaps) / len(gaps)


def reliability(gaps: Sequence[float], bins: int = DEFAULT_BINS) -> list[ReliabilityBin]:
    """Equal-width bins of predicted P(win) = sigmoid(gap) over both orientations of every pair.

    Empty bins are left out; the last bin includes p = 1.
    """
    oriented = [(sigmoid(g), 1.0) for g in gaps] + [(sigmoid(-g), 0.0) for g in gaps]
    grouped: list[list[tuple[float, float]]] = [[] for _ in range(bins)]
    for p, won in oriented:
        grouped[min(int(p * bins), bins - 1)].append((p, won))
    return [ReliabilityBin(i / bins, (i + 1) / bins, len(items), sum(p for p, _ in items) / len(items),
                           sum(w for _, w in items) / len(items))
            for i, items in enumerate(grouped) if items]


def expected_calibration_error(table: Sequence[ReliabilityBin]) -> float:
    """Sum over bins of (bin share) * |win rate - mean confidence|."""
    total = sum(b.count for b in table)
    return sum(b.count / total * abs(b.win_rate - b.confidence) for b in table)


def brier(gaps: Sequence[float]) -> float:
    return sum((1.0 - sigmoid(g)) ** 2 for g in gaps) / len(gaps)


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin also takes its right edge."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        for i in range(len(counts)):
            if edges[i] <= v < edges[i + 1] or (i == len(counts) - 1 and v == edges[-1]):
                counts[i] += 1
                break
    return counts


def shared_edges(values: Sequence[float], bins: int = 20) -> list[float]:
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5, high + 0.5
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None when there are fewer than 3 points or one side is constant."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def length_correlation(pairs: Sequence[ScoredPair]) -> float | None:
    """Pearson's r between score and length in characters over every distinct scored response."""
    scored = {(p.prompt, p.chosen): p.chosen_score for p in pairs}
    scored.update({(p.prompt, p.rejected): p.rejected_score for p in pairs})
    return pearson([float(len(text)) for _, text in scored], list(scored.values()))


def worst_pairs(pairs: Sequence[ScoredPair], k: int = 10) -> list[ScoredPair]:
    """The pairs ordered wrong with the largest gap first (most confidently wrong)."""
    return sorted((p for p in pairs if p.gap < 0), key=lambda p: p.gap)[:k]


def rm_report(pairs: Sequence[ScoredPair], bins: int = DEFAULT_BINS, worst: int = 10,
              split: str = "held-out") -> RMReport:
    """The whole health report of scored pairs."""
    if not pairs:
        raise ValueError("no scored pairs: the reward model needs held-out pairs to be checked")
    gaps = [p.gap for p in pairs]
    table = reliability(gaps, bins)
    scores = [p.chosen_score for p in pairs] + [p.rejected_score for p in pairs]
    edges = shared_edges(scores)
    corr = length_correlation(pairs)
    warnings = []
    if corr is not None and abs(corr) > LENGTH_WARNING:
        side = "longer" if corr > 0 else "shorter"
        warnings.append(f"score and answer length correlate (r = {corr:+.2f}): the reward model may be "
                        f"rewarding {side} answers rather than better ones")
    if split != "held-out":
        warnings.append("no held-out prompts (fewer than 10 prompts): these numbers are on the training pairs")
    return RMReport(len(pairs), accuracy(gaps), expected_calibration_error(table), brier(gaps), table, edges,
                    histogram([p.chosen_score for p in pairs], edges),
                    histogram([p.rejected_score for p in pairs], edges), corr, worst_pairs(pairs, worst),
                    split, warnings)


def report_text(report: RMReport) -> str:
    """A few lines for the terminal."""
    lines = [f"reward model on {report.pairs} {report.split} pairs",
             f"  accuracy {report.accuracy:.3f} · ECE {report.ece:.3f} · Brier {report.brier:.3f}",
             "  length correlation " + ("n/a" if report.length_correlation is None
                                        else f"{report.length_correlation:+.3f}"),
             "  reliability (predicted -> observed, count): " + ", ".join(
                 f"{b.confidence:.2f}->{b.win_rate:.2f} ({b.count})" for b in report.bins)]
    lines += [f"  warning: {w}" for w in report.warnings]
    if report.worst:
        lines.append("  most wrong pairs (gap, comparison, prompt):")
        lines += [f"    {p.gap:+.3f}  #{p.comparison_id}  {p.prompt[:60]!r}" for p in report.worst]
    return "\n".join(lines)


# -- the scored pairs of a reward run, kept in its folder ----------------------------------------------------
SCORES_FILE = "heldout_scores.jsonl"


def save_scored(path: str | Path, pairs: Sequence[ScoredPair], split: str) -> Path:
    """One JSON line per scored pair (with the split it comes from), written atomically."""
    from studio.core.jsonl import write_jsonl

    write_jsonl(path, [{**asdict(p), "split": split} for p in pairs])
    return Path(path)


def load_scored(path: str | Path) -> tuple[list[ScoredPair], str]:
    """The pairs saved by `save_scored` and their split."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    split = rows[0]["split"] if rows else "held-out"
    return [ScoredPair(**{k: v for k, v in row.items() if k != "split"}) for row in rows], split
