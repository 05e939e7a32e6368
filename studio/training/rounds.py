"""Iterated RLHF, one round at a time, after a finished PPO, RLOO or GRPO run (`core.rounds` plans it).

`prepare_round` ("Sample next round"): refuses once the person's gold win rate stopped rising; makes the run's gold
checks (its last round's answers against its starting policy's); samples K answers (`core.rounds.answers_per_prompt`)
to each of the prompts the run's alarms flagged, then those the reward model knows least, half from the run's policy
and half from its starting policy, as the run drew its own
(`online_policy.rollout_sampling`), and stores those that can teach something (`core.rounds.mix`); puts the new
comparisons at the head of the queue. The person then ranks them.
`train_round` ("Train next round"): a reward run on every label (the gold checks included), warm-started from the
run's reward model, then a run of the same kind and settings whose policy goes on from the run's while the reference
stays the run's own start (so KL is measured from the same place every round); after a run that raised alarms, that
run optimises the cautious reward (`core.rounds.round_penalty`).
"""
from __future__ import annotations

import dataclasses

from studio.core import rounds as plan
from studio.core.active import latest_reward_run, prompts_by_uncertainty, put_at_head
from studio.core.oversight_store import flagged_prompts
from studio.core.project import Project
from studio.core.records import Run
from studio.core.reward_terms import TERMS_KEY
from studio.core.run_kinds import REWARD
from studio.training import runs
from studio.training.engine import Hooks, TrainResult
from studio.training.generation import generate
from studio.training.gold import make_gold_checks, run_config
from studio.training.online_policy import rollout_sampling
from studio.training.shared_base import SharedBase
from studio.training.uncertainty import score_unranked


@dataclasses.dataclass(frozen=True)
class Prepared:
    run_id: int
    comparisons: list[int]  # the round's new comparisons, at the head of the queue
    gold: list[int]  # the run's new gold checks, first of all in the queue
    dropped: int  # prompts whose answers were all alike or all degenerate
    per_prompt: int  # K, the answers sampled to each prompt
    flagged: int  # of `comparisons`, the first ones: on the prompts the run's alarms flagged


def prepare_round(project: Project, base: SharedBase, run_ref: str | None = None, per_prompt: int | None = None,
                  limit: int | None = None, hooks: Hooks | None = None) -> Prepared:
    """Gold checks and fresh mixed comparisons of `per_prompt` answers (default: as the project ranks them) after
    online run `run_ref` (default: the latest), at the head of the queue; `limit` prompts at most (those the run's
    alarms flagged first, then the reward model's least sure)."""
    hooks, store = hooks or Hooks(), project.store
    run = plan.online_run(store, run_ref)
    per_prompt = plan.answers_per_prompt(store, per_prompt)
    n_policy, n_start = plan.split_k(per_prompt)
    plan.check_sample(store, run)
    hooks.say(f"Gold checks of run {run.id}…")
    gold = make_gold_checks(project, base, str(run.id), hooks=hooks)
    flagged = set(flagged_prompts(store, run.id))
    known = [p.text for p in prompts_by_uncertainty(store, store.prompts())]
    prompts = sorted(known, key=lambda text: text not in flagged)[:limit]  # stable: the flagged first
    start = run.config.get("_init") or "base"
    sampling = rollout_sampling(run_config(run, str(base.device)), run.id * 1000 + 1)
    answers = {}
    for who, policy, n in ((plan.POLICY, str(run.id), n_policy), (plan.START, start, n_start)):
        hooks.say(f"Sampling {n} answers to each of {len(prompts)} prompts from the {who} policy…")
        with base.use(runs.policy_adapter(project, base, policy)) as model:
            answers[who] = generate(model, base.tokenizer, prompts, sampling, num_return_sequences=n,
                                    batch_size=runs.GENERATION_BATCH, should_stop=hooks.should_stop)
    made, settings = [], {**dataclasses.asdict(sampling), "round_after": run.id}
    with store.transaction():
        for prompt, mine, theirs in zip(prompts, answers[plan.POLICY], answers[plan.START]):
            kept = plan.mix(mine, theirs)
            if kept:
                pid = store.add_prompt(prompt)
                labels = {plan.POLICY: str(run.id), plan.START: start}
                made.append(store.add_comparison(pid, [store.add_response(pid, a.text, labels[a.source], settings)
                                                       for a in kept]))
        put_at_head(store, gold + made)
        plan.record_prepared(store, run.id, made, gold)
    if latest_reward_run(store) is not None:
        score_unranked(project, base)  # their guesses, shown after each decision
    on_flagged = [cid for cid in made if store.comparison(cid).prompt in flagged]
    return Prepared(run.id, made, gold, len(prompts) - len(made), per_prompt, len(on_flagged))


def train_round(project: Project, base: SharedBase, run_ref: str | None = None, hooks: Hooks | None = None
                ) -> tuple[int, TrainResult, int | None, TrainResult | None]:
    """The reward model on every label (warm start), then the policy on from run `run_ref` (default: the latest
    online run), with the cautious reward after alarms (`core.rounds.round_penalty`): (reward run, its result,
    policy run or None when the reward run did not finish, its result)."""
    store = project.store
    run = plan.online_run(store, run_ref)
    check_trainable(project, run)
    reward = store.run(int(run.config["_reward"]))
    reward_id, reward_result = runs.train(project, base, REWARD, runs.config_of(reward), hooks, warm=str(reward.id))
    if reward_result.status != "finished":
        return reward_id, reward_result, None, None
    config, cautious = runs.config_of(run), plan.round_penalty(store, run)
    if cautious is not None:
        config = dataclasses.replace(config, uncertainty_penalty=cautious)
    policy_id, result = runs.train(project, base, run.kind, config, hooks, start=str(run.id), reward=str(reward_id),
                                   terms=run.config.get(TERMS_KEY))
    return reward_id, reward_result, policy_id, result


def check_trainable(project: Project, run: Run) -> None:
    """Refuse (ValueError) to train the round after `run`: it used no reward model or a --reward-file function,
    none prepared, already trained, nothing of it ranked, or the gold win rate stopped rising."""
    store = project.store
    plan.check_continuable(run)
    done = plan.continued_by(store, run.id)
    if done is not None:
        raise ValueError(f"the round after run {run.id} is trained already (run {done.id})")
    ready = plan.prepared(store, run.id)
    if ready is None:
        raise ValueError(f"no round is sampled after run {run.id}: sample it first (`round DIR`), then rank it")
    ranked = {r.comparison_id for r in store.rankings() if r.status == "ranked"}
    made = ready["comparisons"] + ready["gold"]
    if not ranked & set(made):
        raise ValueError(f"none of the round's {len(made)} comparisons is ranked yet: rank them first (Rank page)")
    plan.check_further(store, run)
