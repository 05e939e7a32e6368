"""Gold checks: people rank what PPO wrote against the SFT answer to the same prompt.

Each gold comparison holds one answer of the PPO policy at a given round and the starting (SFT)
policy's answer, in random order; `oversight_store.gold_checks` records which one is the policy's,
its reward-model score during the run, the run and the round. The people's verdicts against the
proxy reward over the rounds give Gao et al.'s (2022) overoptimisation picture: the reward model's
score keeps climbing while the gold win rate levels off or falls.
"""
from __future__ import annotations

from dataclasses import dataclass

from studio.core.ai_feedback import is_machine
from studio.core.oversight_store import gold_checks


@dataclass(frozen=True)
class GoldPoint:
    round: int
    judged: int           # gold comparisons of this round ranked by people
    gold_win_rate: float  # share the policy's answer won (a tie counts half)
    proxy_reward: float   # mean reward-model score of those policy answers during the run
    kl: float | None      # the run's KL at that round


def policy_outcome(order: list[list[int]], policy_position: int) -> float:
    """1 if the policy's answer is alone on top, 0.5 if tied on top, 0 otherwise."""
    top = order[0]
    return 0.0 if policy_position not in top else 1.0 if len(top) == 1 else 0.5


def gold_curve(store, run_id: int) -> list[GoldPoint]:
    """One point per round with gold checks that people (not ai:/rule: labellers) have ranked."""
    kl = {row["step"]: row["value"] for row in store.metrics(run_id) if row["name"] == "kl"}
    outcomes: dict[int, list[tuple[float, float]]] = {}
    for check in gold_checks(store, run_id):
        for ranking in store.rankings(check.comparison_id):
            if ranking.status == "ranked" and not is_machine(ranking.annotator):
                outcomes.setdefault(check.round, []).append(
                    (policy_outcome(ranking.order, check.policy_position), check.policy_reward or 0.0))
    return [GoldPoint(r, len(rows), sum(o for o, _ in rows) / len(rows), sum(p for _, p in rows) / len(rows),
                      kl.get(r)) for r, rows in sorted(outcomes.items())]
