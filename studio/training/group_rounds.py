"""The rounds that RLOO and GRPO share: k answers to each of a batch of prompts, scored, then learned from.

Each round: draw k responses to each prompt of the round's batch from adapter "policy" (`rollout`, the k to one
prompt side by side, with the sampler's own log-probs recorded), score them (`missing_eos_penalty` added to a
response that never ended), and hand the round to the algorithm's `Learn`, which returns its metrics. Around it:
the policy's start (`online_policy.start_policy`), resume from the last checkpoint, Stop anywhere in a round
(within one layer's work, `stopping.stops_inside`: the round is dropped whole, its updates undone), NaN stop
(`engine.Diverged`), bf16 decisions (`engine.wants_bf16`), metrics, samples, progress and checkpoints. Round i
always samples with seed (seed, i) and prompts from the seeded order, so a resumed run repeats the rounds an
uninterrupted one would have run.

A config here has RLOO's and GRPO's shared fields: iterations, batch_size, samples_per_prompt, max_new_tokens,
temperature, beta, lr, prompts_per_pass, missing_eos_penalty, lora_r, lora_alpha, checkpoint_every,
samples_per_iteration, seed, bf16_autocast.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from studio.core.text_stats import round_stats
from studio.training.checkpoints import has_checkpoint, load_checkpoint, save_checkpoint, trainable_parameters
from studio.training.configs import with_device_lengths
from studio.training.engine import (Diverged, Hooks, ScoreFn, TrainResult, batch_for_step, end_run, score_round,
                                    stoppable, wants_bf16)
from studio.training.generation import GeneratedBatch, generate_tokens
from studio.training.online_policy import POLICY, ended_with_eos, rollout_sampling, sampling_progress, start_policy
from studio.training.precision import on_bf16_weights
from studio.training.prefix_sharing import grouped_forward
from studio.training.sampler_logprobs import recording
from studio.training.shared_base import SharedBase
from studio.training.stopping import Cancelled, all_or_nothing
from studio.training.term_rewards import TermReward


@dataclass
class Round:
    """One round's answers, as the algorithm's `Learn` gets them (rows g*k .. g*k + k - 1 answer prompt g)."""

    iteration: int  # 1-based: the round being learned from
    batch: GeneratedBatch
    scores: torch.Tensor  # (n,), the missing-EOS penalty included
    sampled: torch.Tensor  # (n, T) the sampler's own log-probs (`sampler_logprobs`)
    ended: torch.Tensor  # (n,) bool: the response ended with an end of turn
    passes: list[slice]  # whole groups, `prompts_per_pass` prompts each
    reference: str | None  # the adapter that is the KL reference (None: every adapter off)
    scorer_metrics: dict[str, float]  # the score function's round metrics (its `reward/<term>` among them)

    @property
    def mask(self) -> torch.Tensor:
        return self.batch.response_mask.float()


# learns from one round (base, the policy's optimizer, the config with its lengths resolved, the round, hooks) and
# returns its metrics; a Stop inside its passes raises `stopping.Cancelled`, and its updates are undone
Learn = Callable[[SharedBase, torch.optim.Optimizer, object, Round, Hooks], dict[str, float]]


def rollout(base: SharedBase, prompts: list[str], config, seed: int,
            on_token: Callable[[int], None] | None = None, bf16: bool = False) -> GeneratedBatch:
    """k responses to each prompt from the policy, the k to one prompt side by side (on bf16 weights when
    `bf16`)."""
    with base.use(POLICY) as model, base.bf16_decoding(bf16):
        return generate_tokens(model, base.tokenizer, [p for p in prompts for _ in range(config.samples_per_prompt)],
                               rollout_sampling(config, seed), on_token)


def logprobs(base: SharedBase, batch: GeneratedBatch, rows: slice, config, entropy: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log-probs, entropies) of the responses in `rows` (whole groups) under the active adapter, 0 on padding."""
    return grouped_forward(base, batch.query_ids[rows], batch.query_mask[rows], batch.response_ids[rows],
                           config.samples_per_prompt, config.temperature, batch.response_mask[rows], entropy)


def scored_round(base: SharedBase, prompts: list[str], score_fn: ScoreFn, config, iteration: int,
                 reference: str | None, hooks: Hooks, bf16: bool) -> Round:
    """Round `iteration` (1-based): k answers to each of `prompts`, drawn with the round's seed and scored, the
    missing-EOS penalty added; sampling and scoring on bf16 weights when `bf16`."""
    k = config.samples_per_prompt
    with recording(base, config.temperature) as sampler:
        batch = rollout(base, prompts, config, config.seed * 1_000_003 + iteration - 1,
                        sampling_progress(hooks, iteration, len(prompts) * k, config.max_new_tokens), bf16)
    mask = batch.response_mask.float()
    asked = [p for p in prompts for _ in range(k)]
    hooks.say(f"Round {iteration}: scoring the {len(asked)} answers with the reward model…")
    with base.bf16_trunk(bf16):
        scores, scorer_metrics = score_round(score_fn, asked, batch.texts, base.device, iteration)
    ended = ended_with_eos(base, batch)
    if config.missing_eos_penalty is not None:
        scores = scores + config.missing_eos_penalty * (~ended).float()
    step = config.prompts_per_pass * k
    return Round(iteration, batch, scores, sampler.logprobs(batch.response_ids, mask), ended,
                 [slice(start, start + step) for start in range(0, mask.size(0), step)], reference, scorer_metrics)


@torch.no_grad()
def reference_logprobs(base: SharedBase, reference: str | None, batch: GeneratedBatch, config,
                       passes: list[slice], hooks: Hooks | None = None, iteration: int = 1) -> torch.Tensor:
    """The reference's log-probs of every response token, one pass's rows at a time (bounded memory)."""
    hooks, out = hooks or Hooks(), []
    with base.use(reference):
        for i, rows in enumerate(passes):
            hooks.say(f"Round {iteration}: log-probs under the reference model, batch {i + 1} of {len(passes)}…")
            out.append(logprobs(base, batch, rows, config, entropy=False)[0])
    return torch.cat(out)


@stoppable
@on_bf16_weights
def train_in_rounds(base: SharedBase, prompts: list[str], score_fn: ScoreFn, config, run_dir: Path, learn: Learn,
                    hooks: Hooks | None = None, resume: bool = False, init_adapter: str | None = "sft",
                    policy_start: str | None = None) -> TrainResult:
    """Train adapter "policy" in `config.iterations` rounds, each learned from by `learn`; refuses (ValueError) what
    could not sample groups: no prompts, a temperature not above 0, fewer than 2 answers a prompt."""
    engine = type(config).__name__.removesuffix("Config")  # "RLOO", "GRPO": the message names the run's kind
    if not prompts:
        raise ValueError(f"{engine} needs at least one prompt")
    if config.temperature <= 0:
        raise ValueError(f"{engine} samples from the policy: temperature must be above 0")
    if config.samples_per_prompt < 2:
        raise ValueError(f"{engine} needs at least 2 responses per prompt")
    hooks, run_dir = hooks or Hooks(), Path(run_dir)
    config = with_device_lengths(config, str(base.device))  # an empty length: the device's default
    torch.manual_seed(config.seed)
    reference = start_policy(base, init_adapter, config.lora_r, config.lora_alpha, policy_start)
    optimizer = torch.optim.AdamW(trainable_parameters(base, [POLICY], {}), lr=config.lr, weight_decay=0.0)
    iteration = 0
    if resume and has_checkpoint(run_dir):
        iteration, _ = load_checkpoint(run_dir, base, [POLICY], {}, optimizer)

    def checkpoint() -> None:
        save_checkpoint(run_dir, iteration, base, [POLICY], {}, optimizer, extra={"beta": config.beta})

    k, status, last = config.samples_per_prompt, "finished", {}
    bf16 = wants_bf16(config.bf16_autocast, base)
    try:
        while iteration < config.iterations:
            if hooks.stop_requested():
                status = "cancelled"
                break
            t0 = time.perf_counter()
            idx = batch_for_step(list(range(len(prompts))), iteration, config.batch_size, config.seed)
            asked = [prompts[i] for i in idx for _ in range(k)]
            try:  # a Stop mid-round drops the round whole (its updates undone): a resume runs it again
                this = scored_round(base, [prompts[i] for i in idx], score_fn, config, iteration + 1, reference,
                                    hooks, bf16)
                with base.bf16_trunk(bf16), all_or_nothing(optimizer):  # every pass as sampling and scoring
                    stats = learn(base, optimizer, config, this, hooks)
            except Cancelled:
                status = "cancelled"
                break
            iteration += 1
            elapsed = time.perf_counter() - t0
            texts, scores = this.batch.texts, this.scores
            last = {"reward": scores.mean().item(), **stats, "response_length": this.mask.sum(1).mean().item(),
                    "eos_fraction": this.ended.float().mean().item(),
                    **round_stats(texts, scores.tolist()), **this.scorer_metrics,  # for the hacking monitor
                    "samples_per_s": len(asked) / elapsed, "iteration_s": elapsed}
            hooks.metrics(iteration, last)
            hooks.samples(iteration, [{"prompt": p, "response": text, "reward": score} for p, text, score
                                      in zip(asked, texts, scores.tolist())][:config.samples_per_iteration])
            hooks.progress(iteration, config.iterations)
            if iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                hooks.say(f"Round {iteration}: saving a checkpoint…")
                checkpoint()
    except Diverged as exc:
        return TrainResult("diverged", iteration, last, None, str(exc))
    return end_run(run_dir, TrainResult(status, iteration, last), hooks, checkpoint,
                   lambda: base.save_adapter(POLICY, run_dir / "adapter"))


def on_terms(train: Callable[..., TrainResult]) -> Callable[..., TrainResult]:
    """A group engine's `train(base, prompts, score_fn, config, ...)` in the run-kind registry's uniform call, on the
    reward's terms (the reward model's normalised scores by default, its ensemble's lower bound with a penalty)."""
    def train_online(base: SharedBase, prompts: list[str], config, run_dir: Path, hooks: Hooks | None = None, *,
                     resume: bool = False, init_adapter: str | None, reward: TermReward,
                     policy_start: str | None = None) -> TrainResult:
        score = reward.score_fn(normalised=True, penalty=config.uncertainty_penalty, in_reach=config.stay_in_reach)
        return train(base, prompts, score, config, run_dir, hooks, resume=resume, init_adapter=init_adapter,
                     policy_start=policy_start)
    return train_online
