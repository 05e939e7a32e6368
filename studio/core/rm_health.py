"""Is the reward model right? Accuracy, calibration, score histograms, length bias and worst pairs.

Input: held-out preference pairs already scored by the reward model (`ScoredPair`); everything here
is plain Python arithmetic so the numbers can be checked by hand and shown without torch.

Calibration reads the Bradley-Terry model literally: P(chosen beats rejected) = sigmoid(score gap).
Every held-out pair has a known winner, so each pair is counted in both orientations, (gap, won)
and (-gap, lost); otherwise every empirical win rate would be 1 and the diagram would say nothing.
ECE and the Brier score are over those 2N oriented predictions (the Brier score of a pair is the
same in both orientations, so it equals the mean of (1 - sigmoid(gap))^2 over pairs).

Each pair carries its training weight (InstructGPT's: the C(K,2) pairs of one K-way ranking share weight 1),
and accuracy, the reliability bins, ECE and Brier are weighted means, so a 4-way ranking (6 pairs) counts
once, as it does in training, not six times.

Length bias is read within pairs: per pair, the score gap against the length gap (chosen minus rejected, in
characters), both orientations counted as for calibration (so the line goes through 0). Both answers of a pair
share the prompt, so a prompt whose answers are all long and all score high (a difference between prompts,
not a preference for length) does not move it.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

LENGTH_WARNING = 0.5   # |corr(score gap, length gap)| above this: the model may be rewarding length
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
    weight: float = 1.0

    @property
    def length_gap(self) -> float:
        return float(len(self.chosen) - len(self.rejected))

    @property
    def gap(self) -> float:
        return self.chosen_score - self.rejected_score


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions in [low, high): how many, their total pair weight, and their (weighted) mean confidence and
    win rate."""

    low: float
    high: float
    count: int
    confidence: float
    win_rate: float
    weight: float


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

    def accuracy_text(self) -> str:
        """The accuracy named for the pairs it was measured on: "held-out accuracy 0.91 (11 pairs)"."""
        return accuracy_text(self.accuracy, self.pairs, self.split)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["worst"] = [{**asdict(p), "gap": p.gap} for p in self.worst]
        return data


def accuracy_text(value: float, pairs: int, split: str) -> str:
    """"held-out accuracy 0.91 (11 pairs)", or "training accuracy ..." for pairs the model trained on."""
    name = "held-out" if split == "held-out" else "training"
    return f"{name} accuracy {value:.2f} ({pairs} pair{'s' * (pairs != 1)})"


def checked_metrics(report: RMReport) -> dict[str, float]:
    """The report's accuracy as a reward run keeps it among its final metrics (see `checked_text`)."""
    return {"checked_accuracy": report.accuracy, "checked_pairs": float(report.pairs),
            "checked_held_out": float(report.split == "held-out")}


def checked_text(metrics: dict[str, float]) -> str | None:
    """A reward run's checked accuracy as its health report names it, from its final metrics; None without one."""
    if "checked_accuracy" not in metrics:
        return None
    return accuracy_text(metrics["checked_accuracy"], int(metrics["checked_pairs"]),
                         "held-out" if metrics.get("checked_held_out") else "train")


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _weights(gaps: Sequence[float], weights: Sequence[float] | None) -> Sequence[float]:
    return [1.0] * len(gaps) if weights is None else weights


def _mean(values: Sequence[float], weights: Sequence[float]) -> float:
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)


def accuracy(gaps: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """Weighted share of pairs the model orders right; a tie counts half."""
    return _mean([1.0 if g > 0 else 0.5 if g == 0 else 0.0 for g in gaps], _weights(gaps, weights))


def reliability(gaps: Sequence[float], bins: int = DEFAULT_BINS,
                weights: Sequence[float] | None = None) -> list[ReliabilityBin]:
    """Equal-width bins of predicted P(win) = sigmoid(gap) over both orientations of every pair, each
    prediction carrying its pair's weight.

    Empty bins are left out; the last bin includes p = 1.
    """
    weights = _weights(gaps, weights)
    oriented = ([(sigmoid(g), 1.0, w) for g, w in zip(gaps, weights)]
                + [(sigmoid(-g), 0.0, w) for g, w in zip(gaps, weights)])
    grouped: list[list[tuple[float, float, float]]] = [[] for _ in range(bins)]
    for item in oriented:
        grouped[min(int(item[0] * bins), bins - 1)].append(item)
    table = []
    for i, items in enumerate(grouped):
        if items:
            _, _, w = zip(*items)
            table.append(ReliabilityBin(i / bins, (i + 1) / bins, len(items), _mean([p for p, _, _ in items], w),
                                        _mean([won for _, won, _ in items], w), sum(w)))
    return table


def expected_calibration_error(table: Sequence[ReliabilityBin]) -> float:
    """Sum over bins of (the bin's share of the weight) * |win rate - mean confidence|."""
    total = sum(b.weight for b in table)
    return sum(b.weight / total * abs(b.win_rate - b.confidence) for b in table)


def brier(gaps: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """Weighted mean over pairs of (1 - sigmoid(gap))^2."""
    return _mean([(1.0 - sigmoid(g)) ** 2 for g in gaps], _weights(gaps, weights))


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
    """Within pairs: the weighted correlation of score gap and length gap over both orientations of every pair,
    sum(w * dl * ds) / sqrt(sum(w * dl^2) * sum(w * ds^2)) (both orientations make the means 0); None with
    fewer than 3 pairs or when no pair's lengths (or scores) differ."""
    if len(pairs) < 3:
        return None
    sxy = sum(p.weight * p.length_gap * p.gap for p in pairs)
    sxx = sum(p.weight * p.length_gap ** 2 for p in pairs)
    syy = sum(p.weight * p.gap ** 2 for p in pairs)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def worst_pairs(pairs: Sequence[ScoredPair], k: int = 10) -> list[ScoredPair]:
    """The pairs ordered wrong with the largest gap first (most confidently wrong)."""
    return sorted((p for p in pairs if p.gap < 0), key=lambda p: p.gap)[:k]


def rm_report(pairs: Sequence[ScoredPair], bins: int = DEFAULT_BINS, worst: int = 10,
              split: str = "held-out") -> RMReport:
    """The whole health report of scored pairs."""
    if not pairs:
        raise ValueError("no scored pairs: the reward model needs held-out pairs to be checked")
    gaps, weights = [p.gap for p in pairs], [p.weight for p in pairs]
    table = reliability(gaps, bins, weights)
    scores = [p.chosen_score for p in pairs] + [p.rejected_score for p in pairs]
    edges = shared_edges(scores)
    corr = length_correlation(pairs)
    warnings = []
    if corr is not None and abs(corr) > LENGTH_WARNING:
        side = "longer" if corr > 0 else "shorter"
        warnings.append(f"within pairs, the score gap follows the length gap (r = {corr:+.2f}): the reward model "
                        f"may be rewarding {side} answers rather than better ones")
    if split != "held-out":
        warnings.append("no held-out prompts (fewer than 10 prompts): these numbers are on the training pairs")
    return RMReport(len(pairs), accuracy(gaps, weights), expected_calibration_error(table), brier(gaps, weights),
                    table, edges,
                    histogram([p.chosen_score for p in pairs], edges),
                    histogram([p.rejected_score for p in pairs], edges), corr, worst_pairs(pairs, worst),
                    split, warnings)


def report_text(report: RMReport) -> str:
    """A few lines for the terminal."""
    lines = [f"reward model on {report.pairs} {report.split} pairs",
             f"  {report.accuracy_text()} · ECE {report.ece:.3f} · Brier {report.brier:.3f}",
             "  length gap vs score gap within pairs, r " + ("n/a" if report.length_correlation is None
                                        else f"{report.length_correlation:+.3f}"),
             "  reliability (predicted -> observed, count): " + ", ".join(
                 f"{b.confidence:.2f}->{b.win_rate:.2f} ({b.count})" for b in report.bins)]
    lines += [f"  warning: {w}" for w in report.warnings]
    if report.worst:
        lines.append("  most wrong pairs (gap, comparison, prompt):")
        lines += [f"    {p.gap:+.3f}  #{p.comparison_id}  {p.prompt[:60]!r}" for p in report.worst]
    return "\n".join(lines)


# -- the scored pairs of a reward run, and the pairs it held out, kept in its folder --------------------------
SCORES_FILE = "heldout_scores.jsonl"
SPLIT_FILE = "heldout_pairs.jsonl"   # written at training time: the pairs the run never trained on


def save_split(path: str | Path, pairs: Sequence[dict], split: str) -> Path:
    """The pairs a reward run is checked on (dicts with prompt, chosen, rejected, weight, ...), one JSON line
    each with `split`: "held-out" (the run never trained on them) or "train" (it held none out)."""
    from studio.core.jsonl import write_jsonl

    write_jsonl(path, [{**p, "split": split} for p in pairs])
    return Path(path)


def load_split(path: str | Path) -> tuple[list[dict], str]:
    """The pairs saved by `save_split` and their split."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    split = rows[0]["split"] if rows else "held-out"
    return [{k: v for k, v in row.items() if k != "split"} for row in rows], split


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
