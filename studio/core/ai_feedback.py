"""AI feedback without torch: combining a judge's two verdicts, and how machine labels compare with people's.

The judge reads a pair twice, in both orders, giving P(first answer better) each time. A label is
kept only when both readings pick the same answer (position bias removed); its confidence is the
mean of the two probabilities for that answer. K > 2 answers are judged pair by pair and ranked by
wins, only when every pair is settled.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from studio.core.records import Ranking

Verdict = tuple[int, float]  # (winning position, confidence in [0.5, 1])
MACHINE_PREFIXES = ("ai:", "rule:")


def combine_orders(p_first_ab: float, p_first_ba: float) -> Verdict | None:
    """P(A better) read with A shown first, and P(B better) read with B shown first -> (0 = A, 1 = B) or None."""
    p_a = (p_first_ab + (1.0 - p_first_ba)) / 2
    if p_first_ab == 0.5 or p_first_ba == 0.5 or (p_first_ab > 0.5) == (p_first_ba > 0.5):
        return None   # the two readings disagree (or one cannot decide): the pick followed the position
    return (0, p_a) if p_a > 0.5 else (1, 1.0 - p_a)


def rank_by_pairs(k: int, judge_pair: Callable[[int, int], Verdict | None]) -> tuple[list[list[int]], float] | None:
    """Best-first groups of positions from pairwise verdicts (ties when wins are equal) and the lowest
    confidence; None as soon as one pair is unsettled."""
    wins, confidence = [0] * k, 1.0
    for i, j in itertools.combinations(range(k), 2):
        verdict = judge_pair(i, j)
        if verdict is None:
            return None
        winner, conf = verdict
        wins[i if winner == 0 else j] += 1
        confidence = min(confidence, conf)
    levels = sorted(set(wins), reverse=True)
    return [[p for p in range(k) if wins[p] == level] for level in levels], confidence


def is_machine(annotator: str) -> bool:
    return annotator.startswith(MACHINE_PREFIXES)


@dataclass(frozen=True)
class Agreement:
    machine: str
    human: str
    shared: int        # comparisons both ranked
    agreement: float   # share of those where both put the same answers first


def agreements(rankings: Sequence) -> list[Agreement]:
    """How often each machine labeller (ai:/rule:) picks the same best answers as each person."""
    tops: dict[str, dict[int, frozenset]] = {}
    for r in rankings:
        if r.status == "ranked":
            tops.setdefault(r.annotator, {})[r.comparison_id] = frozenset(r.order[0])
    result = []
    for machine in sorted(a for a in tops if is_machine(a)):
        for human in sorted(a for a in tops if not is_machine(a)):
            shared = tops[machine].keys() & tops[human].keys()
            if shared:
                same = sum(tops[machine][c] == tops[human][c] for c in shared)
                result.append(Agreement(machine, human, len(shared), same / len(shared)))
    return result


def _disagreeing(rankings: Sequence, human: str) -> list[tuple[Ranking, Ranking]]:
    """(human's ranking, machine's ranking) pairs whose best answers differ, in the order of `rankings`."""
    mine = {r.comparison_id: r for r in rankings if r.annotator == human and r.status == "ranked"}
    return [(mine[r.comparison_id], r) for r in rankings
            if is_machine(r.annotator) and r.status == "ranked" and r.comparison_id in mine
            and set(r.order[0]) != set(mine[r.comparison_id].order[0])]


def disagreements(rankings: Sequence, human: str) -> list[tuple[int, str]]:
    """(comparison id, machine annotator) where a machine's best answers differ from `human`'s, by comparison."""
    return [(machine.comparison_id, machine.annotator) for _, machine in _disagreeing(rankings, human)]


def to_look_again(rankings: Sequence, human: str) -> list[int]:
    """Comparisons to show `human` again, by id: a machine labelled one after they ranked it and put other
    answers first. Ranking it again closes it, whatever the new ranking says (a second look that keeps the
    first view is an answer too); so does a ranking made after the label (the Rank page shows the machine's
    pick right after each decision). Ids tell the order: a replaced ranking gets a new one."""
    return sorted({mine.comparison_id for mine, machine in _disagreeing(rankings, human) if mine.id < machine.id})


def suggestion(rankings: Sequence, comparison_id: int) -> list[tuple[str, list[list[int]]]]:
    """The machine labels of one comparison: (annotator, order)."""
    return [(r.annotator, r.order) for r in rankings
            if r.comparison_id == comparison_id and is_machine(r.annotator) and r.status == "ranked"]


def suggestion_text(rankings: Sequence, comparison_id: int, human_order: list[list[int]]) -> str:
    """What the machine labellers picked for a comparison the person just ranked, in one sentence."""
    notes = []
    for annotator, order in suggestion(rankings, comparison_id):
        best = " and ".join(str(p + 1) for p in order[0])
        verdict = "agrees" if human_order and set(order[0]) == set(human_order[0]) else "differs"
        notes.append(f"{annotator} picked {best} ({verdict})")
    return f" Labellers: {'; '.join(notes)}." if notes else ""
