"""Scores a reward run's held-out pairs for the health report (`studio.core.rm_health`).

The held-out pairs are the ones the run never trained on: the same whole-prompt split
(`reward.split_by_prompt`, same fraction and seed) over the project's current pairs. With fewer than
10 prompts there is no held-out split, and the training pairs are scored instead (the report says so).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from studio.core.project import Project
from studio.core.ratings import training_pairs
from studio.core.rm_health import SCORES_FILE, RMReport, ScoredPair, load_scored, rm_report, save_scored
from studio.core.run_kinds import REWARD
from studio.training.reward import RewardScorer, split_by_prompt
from studio.training.shared_base import SharedBase


def heldout_pairs(pairs: list[dict], eval_fraction: float, seed: int) -> tuple[list[dict], str]:
    """The pairs a reward run held out, and "held-out"; all pairs and "train" when it held none out."""
    _, held = split_by_prompt(pairs, eval_fraction, seed)
    return ([pairs[i] for i in held], "held-out") if held else (pairs, "train")


def score_pairs(scorer: RewardScorer, pairs: list[dict], batch_size: int = 8) -> list[ScoredPair]:
    prompts = [p["prompt"] for p in pairs]
    chosen = scorer(prompts, [p["chosen"] for p in pairs], batch_size).tolist()
    rejected = scorer(prompts, [p["rejected"] for p in pairs], batch_size).tolist()
    return [ScoredPair(p["prompt"], p["chosen"], p["rejected"], c, r, p.get("comparison_id"))
            for p, c, r in zip(pairs, chosen, rejected)]


def score_reward_run(project: Project, base: SharedBase, run_ref: str | int) -> Path:
    """Score the run's held-out pairs and save them as `runs/<id>/heldout_scores.jsonl`."""
    run = project.store.resolve_run(str(run_ref))
    if run.kind != REWARD or run.status != "finished":
        raise ValueError(f"run {run.id} is not a finished reward model ({run.kind}, {run.status})")
    pairs = [dataclasses.asdict(p) for p in training_pairs(project.store)]
    if not pairs:
        raise ValueError("the project has no preference pairs to check the reward model on")
    held, split = heldout_pairs(pairs, float(run.config.get("eval_fraction", 0.1)), int(run.config.get("seed", 0)))
    scorer = RewardScorer.load(base, project.run_dir(run.id))
    return save_scored(project.run_dir(run.id) / SCORES_FILE, score_pairs(scorer, held), split)


def reward_report(project: Project, run_ref: str | int, base_factory=None) -> RMReport:
    """The run's health report from its saved scores; scores them first (loading the model) when missing."""
    run = project.store.resolve_run(str(run_ref))
    path = project.run_dir(run.id) / SCORES_FILE
    if not path.exists():
        if base_factory is None:
            raise ValueError(f"reward run {run.id} has no held-out scores yet")
        score_reward_run(project, base_factory(), run.id)
    pairs, split = load_scored(path)
    return rm_report(pairs, split=split)
