"""RLOO from a score: REINFORCE with a leave-one-out baseline (Ahmadian et al. 2024), read top to bottom in run order.

The rounds (sampling, scoring, checkpoints, resume, stop) are `group_rounds.train_in_rounds`, shared with GRPO;
this module is RLOO's `learn`. Each round: draw k responses to each of a batch of prompts from the policy (rollout), score them and the
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
rounds an uninterrupted one would have run. Stop takes effect anywhere in a round, within one layer's work
(`stopping.stops_inside`); the round is dropped whole and any pass's update undone, so the checkpoint saved on
stopping is exactly the end of the last round.

Metrics per round: reward (mean score, penalty included), rlhf_reward (mean score - beta * KL), kl (mean over
responses of the summed log p - log p_ref, in nats), beta, logprob_mismatch (nats per token between the sampler's log-probs and
the first pass's, `sampler_logprobs`), policy_loss, entropy, clip_frac (share of responses clipped,
over all passes), grad_norm, response_length, eos_fraction, distinct_2 and reward_length_corr (for the hacking
monitor), samples_per_s (responses), iteration_s, and any round metric the score function returns with its scores
(`engine.Scores`: a reward run with an ensemble adds ensemble_disagreement).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from studio.training.online_configs import RLOOConfig
from studio.training.engine import Diverged, Hooks, ScoreFn, TrainResult, check_finite, heap_trimmer
from studio.training.generation import GeneratedBatch
from studio.training.group_rounds import Round, logprobs, on_terms, reference_logprobs, train_in_rounds
from studio.training.online_policy import POLICY
from studio.training.ppo_losses import masked_mean
from studio.training.rloo_losses import leave_one_out_advantages, sequence_kl, sequence_policy_loss
from studio.training.sampler_logprobs import mismatch
from studio.training.shared_base import SharedBase


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


def learn(base: SharedBase, optimizer: torch.optim.Optimizer, config: RLOOConfig, this: Round, hooks: Hooks
          ) -> dict[str, float]:
    """One round of RLOO: the reference's log-probs for the KL price, then the REINFORCE passes."""
    ref_logprobs = reference_logprobs(base, this.reference, this.batch, config, this.passes, hooks, this.iteration)
    stats = update(base, optimizer, this.batch, this.scores, ref_logprobs, this.sampled, config, this.passes, hooks,
                   this.iteration)
    kl = stats.pop("kl")
    return {"rlhf_reward": (this.scores - config.beta * kl).mean().item(), "kl": kl.mean().item(),
            "beta": config.beta, **stats}


def train_rloo(base: SharedBase, prompts: list[str], score_fn: ScoreFn, config: RLOOConfig, run_dir: Path,
               hooks: Hooks | None = None, resume: bool = False, init_adapter: str | None = "sft",
               policy_start: str | None = None) -> TrainResult:
    """Train adapter "policy" so that `score_fn(prompts, responses)` (one number per response) goes up."""
    return train_in_rounds(base, prompts, score_fn, config, run_dir, learn, hooks, resume,
                           init_adapter, policy_start)


train_rloo_online = on_terms(train_rloo)
