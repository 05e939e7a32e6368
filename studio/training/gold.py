"""Make gold checks: one round of a PPO run's answers, each paired with the starting policy's answer.

The starting policy is the run's own (`_init`: the SFT run it started from, or the base), and its answers are
drawn as PPO drew the policy's (`online_policy.rollout_sampling`: same temperature, length and no top-p cut), so that a
person compares the two policies, not two ways of sampling."""
from __future__ import annotations

import random

from studio.core.oversight_store import GoldCheck, add_gold_check, gold_prompts
from studio.core.project import Project
from studio.core.records import Run
from studio.core.run_kinds import run_kind
from studio.training.configs import with_device_lengths
from studio.training.online_configs import OnlineConfig
from studio.training.engine import Hooks
from studio.training.online_policy import rollout_sampling
from studio.training.runs import config_of, sample
from studio.training.shared_base import SharedBase


def run_config(run: Run, device: str) -> OnlineConfig:
    """The settings online run `run` trained with (defaults for any it did not store), at the device's lengths."""
    return with_device_lengths(config_of(run), device)


def make_gold_checks(project: Project, base: SharedBase, run_ref: str, round_: int | None = None,
                     hooks: Hooks | None = None) -> list[int]:
    """Comparisons (policy answer vs starting-policy answer, random sides) of round `round_` (default: the
    last with samples) of PPO run `run_ref`; prompts already checked at that round are skipped."""
    store = project.store
    run = store.resolve_run(run_ref)
    if not run_kind(run.kind).gold_checks:
        raise ValueError(f"run {run.id} is a {run.kind} run: gold checks compare an online policy (PPO, RLOO, "
                         "GRPO) with its start")
    samples = store.samples(run.id)
    if not samples:
        raise ValueError(f"PPO run {run.id} has no recorded answers yet")
    round_ = max(s["step"] for s in samples) if round_ is None else round_
    done = gold_prompts(store, run.id, round_)
    todo = [s for s in samples if s["step"] == round_ and s["prompt"] not in done]
    if not todo:
        return []
    start = run.config.get("_init") or "base"
    sampling = rollout_sampling(run_config(run, str(base.device)), run.id * 1000 + round_)  # as PPO drew its answers
    answers = sample(project, base, start, [s["prompt"] for s in todo], sampling, hooks)
    rng = random.Random(run.id * 1000 + round_)
    made = []
    with store.transaction():
        for row, answer in zip(todo, answers):
            pid = store.add_prompt(row["prompt"])
            policy = store.add_response(pid, row["response"], str(run.id), {"round": round_})
            reference = store.add_response(pid, answer, start, sampling.__dict__)
            position = rng.randrange(2)
            ids = [policy, reference] if position == 0 else [reference, policy]
            made.append(store.add_comparison(pid, ids))
            add_gold_check(store, GoldCheck(made[-1], run.id, round_, position, row.get("reward")))
    return made
