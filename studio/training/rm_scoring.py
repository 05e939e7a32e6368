"""Scores a reward run's held-out pairs for the health report (`studio.core.rm_health`).

The held-out pairs are the ones the run never trained on, as training stored them in the run folder
(`rm_health.SPLIT_FILE`); they are never split again from the project's current pairs, which may hold
prompts added since (some of them on the training side of a new split). With fewer than 10 prompts
training holds none out and stores its training pairs instead (the report says so).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from studio.core.project import Project
from studio.core.rm_health import (SCORES_FILE, SPLIT_FILE, RMReport, ScoredPair, checked_metrics, load_scored,
                                   load_split, rm_report, save_scored)
from studio.core.run_kinds import REWARD
from studio.training.reward import RewardScorer
from studio.training.shared_base import SharedBase


def score_pairs(scorer: RewardScorer, pairs: list[dict], batch_size: int = 8,
                progress: Callable[[int, int], None] | None = None) -> list[ScoredPair]:
    """Both answers of every pair scored, `batch_size` pairs at a time; `progress(done, total)` after each."""
    scored = []
    for start in range(0, len(pairs), batch_size):
        rows = pairs[start:start + batch_size]
        prompts = [p["prompt"] for p in rows]
        chosen = scorer(prompts, [p["chosen"] for p in rows], batch_size).tolist()
        rejected = scorer(prompts, [p["rejected"] for p in rows], batch_size).tolist()
        scored += [ScoredPair(p["prompt"], p["chosen"], p["rejected"], c, r, p.get("comparison_id"),
                              float(p.get("weight", 1.0))) for p, c, r in zip(rows, chosen, rejected)]
        if progress:
            progress(len(scored), len(pairs))
    return scored


def score_reward_run(project: Project, base: SharedBase, run_ref: str | int,
                     say: Callable[[str], None] = lambda _text: None) -> Path:
    """Score the run's held-out pairs, save them as `runs/<id>/heldout_scores.jsonl` and keep their accuracy among
    the run's final metrics; `say` tells how far it is."""
    run = project.store.resolve_run(str(run_ref))
    if run.kind != REWARD or run.status != "finished":
        raise ValueError(f"run {run.id} is not a finished reward model ({run.kind}, {run.status})")
    stored = project.run_dir(run.id) / SPLIT_FILE
    if not stored.exists():
        raise ValueError(f"reward run {run.id} was trained before runs kept their held-out pairs: train the reward "
                         f"model again to check it on pairs it never saw")
    held, split = load_split(stored)
    if not held:
        raise ValueError(f"reward run {run.id} has no pairs to be checked on")
    scorer = RewardScorer.load(base, project.run_dir(run.id))
    which = "held-out" if split == "held-out" else "training"
    scored = score_pairs(scorer, held, progress=lambda done, total: say(
        f"Checking the reward model on its {which} pairs: scored {done} of {total}…"))
    path = save_scored(project.run_dir(run.id) / SCORES_FILE, scored, split)
    # the one accuracy the run's summaries show, as its health report computes it from these scores
    project.store.update_run(run.id, final_metrics={**run.final_metrics,
                                                     **checked_metrics(rm_report(scored, split=split))})
    return path


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
