"""RLOO from a score: REINFORCE with a leave-one-out baseline (Ahmadian et al. 2024), read top to bottom in run order.

Each round: draw k responses to each of a batch of prompts from the policy (rollout), score them and the
reference's log-probs, then learn: each response's reward is its score minus beta times its KL to the
reference, its advantage that reward minus the mean reward of the other k - 1 responses to the same
prompt, and the policy takes one REINFORCE step per pass (`epochs` passes, PPO's clip on the response's
probability ratio after the first). The small maths lives in `rloo_losses`; sampling is PPO's
(`generation.generate_tokens`), log-probs are `ppo.forward`'s with each prompt run once for its k responses
(`prefix_sharing.grouped_forward`). Compare with TRL's `RLOOTrainer` (same formulas) and
OpenRLHF's `--advantage_estimator rloo`.

KL goes in the reward, not in the loss: as in the paper, TRL and OpenRLHF, the response's summed
`log p - log p_ref` is taken off its score before the baseline, so the KL price is centred by the same
leave-one-out baseline as the score (less variance) and beta means the same as PPO's (nats of KL per unit
of score). A KL loss term would instead pull every token toward the reference whatever its reward.

Everything shares ONE base model (docs/ARCHITECTURE.md): the policy is adapter "policy", a trainable copy
of `init_adapter` (normally "sft"), else a fresh LoRA; the reference is `init_adapter` switched on (every
adapter off when there is none). There is no value head.

No extra policy forward: each pass accumulates the gradients of all its groups and then steps once, so the
policy does not change during a pass, and the first pass's own log-probs (detached) are the sampling
policy's log-probs that the KL and later passes' ratios need. A pass takes whole groups (the k responses to
`prompts_per_pass` prompts), because a response's advantage needs its siblings' KL.

Scores are used as given (runs.py passes the reward model's scores normalised by its training statistics);
`missing_eos_penalty`, as PPO's, is added to the score of a response that never ended, before the KL price.
Round i always samples with seed (seed, i) and prompts from the seeded order, so a resumed run repeats the
rounds an uninterrupted one would have run. Stop takes effect before a round or during its first pass,
before any update of that round, so the checkpoint saved on stopping is exactly the end of the last round.

Metrics per round: reward (mean score, penalty included), rlhf_reward (mean score - beta * KL), kl (mean over
responses of the summed log p - log p_ref, in nats), beta, logprob_mismatch (nats per token between the sampler's log-probs and
the first pass's, `sampler_logprobs`), policy_loss, entropy, clip_frac (share of responses clipped,
over all passes), grad_norm, response_length, eos_fraction, distinct_2 and reward_length_corr (for the hacking
monitor), samples_per_s (responses), iteration_s, and any round metric the score function returns with its scores
(`engine.Scores`: a reward run with an ensemble adds ensemble_disagreement).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from studio.core.text_stats import round_stats
from studio.training.checkpoints import has_checkpoint, load_checkpoint, save_checkpoint, trainable_parameters
from studio.training.configs import RLOOConfig, with_device_lengths
from studio.training.engine import (SAVING, Diverged, Hooks, ScoreFn, TrainResult, batch_for_step, check_finite,
                                    heap_trimmer, score_round, wants_bf16)
from studio.training.generation import GeneratedBatch, generate_tokens
from studio.training.online_policy import POLICY, ended_with_eos, rollout_sampling, sampling_progress, start_policy
from studio.training.ppo_losses import masked_mean
from studio.training.prefix_sharing import grouped_forward
from studio.training.rloo_losses import leave_one_out_advantages, sequence_kl, sequence_policy_loss
from studio.training.sampler_logprobs import mismatch, recording
from studio.training.shared_base import SharedBase
from studio.training.uncertainty import OnlineReward


class _Cancelled(Exception):
    """Stop was asked for during the round's first pass, before its update."""


def rollout(base: SharedBase, prompts: list[str], config: RLOOConfig, seed: int,
            on_token: Callable[[int], None] | None = None, bf16: bool = False) -> GeneratedBatch:
    """k responses to each prompt from the policy, the k to one prompt side by side (on bf16 weights when
    `bf16`)."""
    with base.use(POLICY) as model, base.bf16_decoding(bf16):
        return generate_tokens(model, base.tokenizer, [p for p in prompts for _ in range(config.samples_per_prompt)],
                               rollout_sampling(config, seed), on_token)


def logprobs(base: SharedBase, batch: GeneratedBatch, rows: slice, config: RLOOConfig, entropy: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log-probs, entropies) of the responses in `rows` (whole groups) under the active adapter, 0 on padding."""
    return grouped_forward(base, batch.query_ids[rows], batch.query_mask[rows], batch.response_ids[rows],
                           config.samples_per_prompt, config.temperature, batch.response_mask[rows], entropy)


@torch.no_grad()
def reference_logprobs(base: SharedBase, reference: str | None, batch: GeneratedBatch, config: RLOOConfig,
                       passes: list[slice], hooks: Hooks | None = None, iteration: int = 1) -> torch.Tensor:
    """The reference's log-probs of every response token, one pass's rows at a time (bounded memory)."""
    hooks, out = hooks or Hooks(), []
    with base.use(reference):
        for i, rows in enumerate(passes):
            hooks.say(f"Round {iteration}: log-probs under the reference model, batch {i + 1} of {len(passes)}…")
            out.append(logprobs(base, batch, rows, config, entropy=False)[0])
    return torch.cat(out)


def update(base: SharedBase, optimizer: torch.optim.Optimizer, batch: GeneratedBatch, scores: torch.Tensor,
           ref_logprobs: torch.Tensor, sampled: torch.Tensor, config: RLOOConfig, passes: list[slice], hooks: Hooks,
           iteration: int) -> dict[str, float | torch.Tensor]:
    """`epochs` passes, each summing the gradients of every group and then stepping once; returns the stats
    (with the gap between the sampler's log-probs, `sampled`, and the first pass's)."""
    params = optimizer.param_groups[0]["params"]
    n, k, mask = scores.numel(), config.samples_per_prompt, batch.response_mask.float()
    old_logprobs = torch.zeros_like(ref_logprobs)
    kl, advantages = torch.zeros(n, device=scores.device), torch.zeros(n, device=scores.device)
    losses, grad_norms, entropies, clipped = [], [], [], 0
    trim = heap_trimmer(base.device)
    with base.use(POLICY):  # eval mode throughout: no dropout, so pass 1's log-probs are the sampling policy's
        for epoch in range(config.epochs):
            optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for i, rows in enumerate(passes):
                if epoch == 0 and hooks.stop_requested():
                    optimizer.zero_grad(set_to_none=True)
                    raise _Cancelled
                hooks.say(f"Round {iteration}: {'advantages and ' if epoch == 0 else ''}policy update, pass "
                          f"{epoch + 1} of {config.epochs}, batch {i + 1} of {len(passes)}…")
                new_logprobs, entropy = logprobs(base, batch, rows, config)
                if epoch == 0:  # the policy has not moved yet: these are the sampling policy's log-probs
                    old_logprobs[rows] = new_logprobs.detach()
                    kl[rows] = sequence_kl(old_logprobs[rows], ref_logprobs[rows], mask[rows])
                    advantages[rows] = leave_one_out_advantages(scores[rows] - config.beta * kl[rows], k)
                    entropies.append(masked_mean(entropy, mask[rows]).item())
                loss, count = sequence_policy_loss(new_logprobs, old_logprobs[rows], advantages[rows], mask[rows],
                                                   config.cliprange, total=n)
                check_finite(loss, iteration)
                trim()
                loss.backward()
                loss_sum += loss.item()
                clipped += int(count)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm).item()
            if not math.isfinite(grad_norm):
                raise Diverged(f"gradient became {grad_norm} at iteration {iteration}; stopped, "
                               "keeping the last good checkpoint")
            optimizer.step()
            losses.append(loss_sum)
            grad_norms.append(grad_norm)
    trim()
    return {"kl": kl, "logprob_mismatch": mismatch(sampled, old_logprobs, mask),
            "policy_loss": sum(losses) / len(losses), "entropy": sum(entropies) / len(entropies),
            "clip_frac": clipped / (n * config.epochs), "grad_norm": sum(grad_norms) / len(grad_norms)}


def train_rloo(base: SharedBase, prompts: list[str], score_fn: ScoreFn, config: RLOOConfig, run_dir: Path,
               hooks: Hooks | None = None, resume: bool = False, init_adapter: str | None = "sft") -> TrainResult:
    """Train adapter "policy" so that `score_fn(prompts, responses)` (one number per response) goes up."""
    if not prompts:
        raise ValueError("RLOO needs at least one prompt")
    if config.temperature <= 0:
        raise ValueError("RLOO samples from the policy: temperature must be above 0")
    if config.samples_per_prompt < 2:
        raise ValueError("RLOO needs at least 2 responses per prompt")
    hooks, run_dir = hooks or Hooks(), Path(run_dir)
    config = with_device_lengths(config, str(base.device))  # an empty length: the device's default
    torch.manual_seed(config.seed)
    reference = start_policy(base, init_adapter, config.lora_r, config.lora_alpha)
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
            with recording(base, config.temperature) as sampler:
                batch = rollout(base, [prompts[i] for i in idx], config, config.seed * 1_000_003 + iteration,
                                sampling_progress(hooks, iteration + 1, len(idx) * k, config.max_new_tokens), bf16)
            mask = batch.response_mask.float()
            sampled = sampler.logprobs(batch.response_ids, mask)
            ended = ended_with_eos(base, batch)
            step = config.prompts_per_pass * k
            passes = [slice(start, start + step) for start in range(0, mask.size(0), step)]

            # score, and the reference's log-probs for the KL price
            asked = [prompts[i] for i in idx for _ in range(k)]
            hooks.say(f"Round {iteration + 1}: scoring the {len(asked)} answers with the reward model…")
            try:
                with base.bf16_trunk(bf16):  # scoring and every pass, as sampling
                    scores, scorer_metrics = score_round(score_fn, asked, batch.texts, base.device, iteration + 1)
                    if config.missing_eos_penalty is not None:
                        scores = scores + config.missing_eos_penalty * (~ended).float()
                    ref_logprobs = reference_logprobs(base, reference, batch, config, passes, hooks, iteration + 1)
                    # advantages (reward - beta * KL, minus the leave-one-out baseline) and the REINFORCE passes
                    stats = update(base, optimizer, batch, scores, ref_logprobs, sampled, config, passes, hooks,
                                   iteration + 1)
            except _Cancelled:
                status = "cancelled"
                break
            iteration += 1
            elapsed = time.perf_counter() - t0
            kl = stats.pop("kl")
            last = {"reward": scores.mean().item(), "rlhf_reward": (scores - config.beta * kl).mean().item(),
                    "kl": kl.mean().item(), "beta": config.beta, **stats,
                    "response_length": mask.sum(1).mean().item(), "eos_fraction": ended.float().mean().item(),
                    **round_stats(batch.texts, scores.tolist()), **scorer_metrics,  # for the hacking monitor
                    "samples_per_s": len(asked) / elapsed, "iteration_s": elapsed}
            hooks.metrics(iteration, last)
            hooks.samples(iteration, [{"prompt": p, "response": text, "reward": score} for p, text, score
                                      in zip(asked, batch.texts, scores.tolist())][:config.samples_per_iteration])
            hooks.progress(iteration, config.iterations)
            if iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                hooks.say(f"Round {iteration}: saving a checkpoint…")
                checkpoint()
    except Diverged as exc:
        return TrainResult("diverged", iteration, last, None, str(exc))
    hooks.say(SAVING)
    checkpoint()
    artifact = base.save_adapter(POLICY, run_dir / "adapter")
    return TrainResult(status, iteration, last, artifact if status == "finished" else None)


def train_rloo_online(base: SharedBase, prompts: list[str], config: RLOOConfig, run_dir: Path,
                      hooks: Hooks | None = None, *, resume: bool = False, init_adapter: str | None,
                      reward: OnlineReward) -> TrainResult:
    """`train_rloo` in the run-kind registry's uniform call, on the reward model's normalised scores."""
    score = reward.score_fn(normalised=True, penalty=config.uncertainty_penalty)
    return train_rloo(base, prompts, score, config, run_dir, hooks, resume=resume,
                      init_adapter=init_adapter)
