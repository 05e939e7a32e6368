"""`round DIR`: iterated RLHF after a PPO, RLOO or GRPO run, in two steps with the person's labels between them:
`round DIR` samples the next round (gold checks and fresh comparisons at the head of the queue), `round DIR --train`
retrains the reward model on every label and goes on with the policy (`studio.training.rounds`), with the cautious
reward after a run that raised alarms (`core.rounds.round_penalty`)."""
from __future__ import annotations

import argparse
import shlex

from studio.cli.loading import bar_hooks, open_base
from studio.cli.parsing import command, count_arg
from studio.core import rounds as plan
from studio.core.held_out import metrics_line
from studio.core.project import Project
from studio.core.run_kinds import REWARD


def cmd_round(args) -> int:
    from studio.training import rounds

    project = Project.open(args.dir)
    store = project.store
    run = plan.online_run(store, args.run)
    if args.train:
        rounds.check_trainable(project, run)  # before the model loads
        cautious = plan.round_penalty(store, run)
        if cautious is not None:
            print(f"run {run.id} raised alarms: the round optimises the cautious reward (uncertainty_penalty "
                  f"{cautious}, the reward model's bound where its heads disagree)")
        base = open_base(project, args.device)
        with bar_hooks("round", unit="step") as hooks:
            reward_id, reward, policy_id, result = rounds.train_round(project, base, str(run.id), hooks)
        print(f"run {reward_id} ({REWARD}, warm start from run {run.config['_reward']}) {reward.status}: "
              f"{metrics_line(REWARD, reward.metrics)}")
        if result is None:
            return 0 if reward.status == "cancelled" else 1
        print(f"run {policy_id} ({run.kind}, on from run {run.id}, reference unchanged) {result.status}: "
              f"{metrics_line(run.kind, result.metrics)}")
        return 0 if result.status in ("finished", "cancelled") else 1
    per_prompt = plan.answers_per_prompt(store, args.per_prompt)
    plan.check_sample(store, run)  # before the model loads
    base = open_base(project, args.device)
    with bar_hooks("round", unit="prompt") as hooks:
        made = rounds.prepare_round(project, base, str(run.id), per_prompt, args.prompts, hooks)
    print(f"round after run {run.id}: {len(made.gold)} gold checks and {len(made.comparisons)} comparisons of "
          f"{made.per_prompt} answers at the head of the queue, the {made.flagged} on prompts its alarms flagged "
          f"first ({made.dropped} prompts dropped: their answers were all alike or all degenerate); rank them, then "
          f"`{round_command(args.dir, run.id, 'train')}`")
    return 0


def round_command(root: str, run_id: int, action: str) -> str:
    """The command that takes `action` ("sample" or "train") on the round after run `run_id` of project `root`."""
    return f"python -m studio round {shlex.quote(str(root))} --run {run_id}{' --train' * (action == 'train')}"


def register(sub: argparse._SubParsersAction) -> None:
    c = command(sub, "round", cmd_round, "Iterated RLHF after a PPO/RLOO/GRPO run: sample the next round's "
                "comparisons (half from the policy, half from its start) and gold checks, or with --train retrain "
                "the reward model on every label and go on with the policy, the reference unchanged.", device=True)
    c.add_argument("--run", help="the online run to go on from (id or latest:KIND; default: the latest)")
    c.add_argument("--train", action="store_true", help="train the round sampled and ranked before")
    c.add_argument("--per-prompt", type=int, default=None, help="answers per comparison (K >= 2), half from each "
                   "policy (default: as the project's rankings have them, most often; 2 without any)")
    c.add_argument("--prompts", type=count_arg, default=None, help="at most this many prompts (least known first)")
