"""GRPO from a score: group-relative advantages and a clipped token-level objective (Shao et al. 2024, DeepSeekMath),
as TRL 1.16's `GRPOTrainer` computes them; read top to bottom in run order.

The rounds are RLOO's (`group_rounds.train_in_rounds`: k answers to each of a batch of prompts from adapter
"policy", scored by the reward model, checkpoints, resume, stop, NaN stop, bf16); this module is GRPO's `learn`.
Each round: each answer's advantage is its score minus its group's mean, divided by the group's std + 1e-4
(`scale_rewards="group"`, TRL's default; "batch": the round's std; "none": Dr. GRPO, Liu et al. 2025). Then
`epochs` passes (TRL's num_iterations), each summing the gradients of every group and stepping once, over the
per-token clipped objective `-min(r A, clip(r, 1 - epsilon, 1 + epsilon_high) A)` plus `beta` times the
per-token k3 KL to the reference, aggregated as `loss_type` says (`grpo_losses.aggregate`: "dapo", TRL's
default, averages over every token of the round; "dr_grpo" divides by responses x max_new_tokens).

The KL is a loss term, not a price in the reward (unlike RLOO and PPO), and `beta` may be 0 (TRL's default):
then the reference's forward is skipped entirely and no KL is measured. The first pass's own log-probs
(detached) are the sampling policy's: its ratio is exactly 1, nothing is clipped, and later passes clip.

Metrics per round: reward (mean score, penalty included) and its terms `reward/<term>` (reward_model, and
missing_eos when that penalty is set), reward_std (mean over groups of the std of their scores),
frac_reward_zero_std (share of groups whose answers all scored the same: they teach nothing), kl (when beta > 0:
mean over answers of the summed per-token k3, nats per answer), beta, entropy, clip_frac_low / clip_frac_high
(share of response tokens whose ratio hit the lower / upper bound, over all passes), policy_loss, grad_norm,
logprob_mismatch, and the shared round metrics (response_length, eos_fraction, distinct_2, samples_per_s, ...).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from studio.training import grpo_losses as losses
from studio.training.engine import Diverged, Hooks, ScoreFn, TrainResult, check_finite, heap_trimmer
from studio.training.group_rounds import Round, logprobs, on_terms, reference_logprobs, train_in_rounds
from studio.training.online_configs import GRPOConfig
from studio.training.online_policy import POLICY
from studio.training.ppo_losses import kl_k3, masked_mean
from studio.training.sampler_logprobs import mismatch
from studio.training.shared_base import SharedBase


def pass_loss(new: torch.Tensor, old: torch.Tensor, ref: torch.Tensor | None, advantages: torch.Tensor,
              mask: torch.Tensor, config: GRPOConfig, sequences: int, tokens: float
              ) -> tuple[torch.Tensor, losses.Clipped, torch.Tensor | None]:
    """One batch of whole groups' loss (its share of the round's), the clipped terms and the per-token k3 KL
    (None when beta is 0)."""
    clipped = losses.clipped_token_loss(new, old, advantages, config.epsilon, config.clip_high)
    per_token, kl = clipped.loss, None
    if config.beta > 0:
        kl = kl_k3(new, ref)
        per_token = per_token + config.beta * kl
    loss = losses.aggregate(per_token, mask, config.loss_type, sequences=sequences, tokens=tokens,
                            max_length=config.max_new_tokens)
    return loss, clipped, kl


def reward_terms(this: Round, config: GRPOConfig) -> dict[str, float]:
    """The round's mean reward per term, `reward/<term>`: the score function's own terms when it reports them
    (`term_rewards`), else its whole score as the reward model's."""
    penalty = (0.0 if config.missing_eos_penalty is None else config.missing_eos_penalty) * (~this.ended).float()
    own = any(name.startswith("reward/") for name in this.scorer_metrics)
    terms = {} if own else {"reward/reward_model": (this.scores - penalty).mean().item()}
    if config.missing_eos_penalty is not None:
        terms["reward/missing_eos"] = penalty.mean().item()
    return terms


def learn(base: SharedBase, optimizer: torch.optim.Optimizer, config: GRPOConfig, this: Round, hooks: Hooks
          ) -> dict[str, float]:
    """One round of GRPO: advantages from the groups, the reference's log-probs when beta > 0, then `epochs`
    passes of the clipped objective, each summing every group's gradients and stepping once."""
    n, k, mask = this.scores.numel(), config.samples_per_prompt, this.mask
    advantages = losses.group_advantages(this.scores, k, config.scale_rewards)
    ref = None
    if config.beta > 0:
        ref = reference_logprobs(base, this.reference, this.batch, config, this.passes, hooks, this.iteration)
    params, tokens = optimizer.param_groups[0]["params"], mask.sum().item()
    old = torch.zeros_like(mask)
    kl = torch.zeros(n, device=mask.device)
    entropies, low, high, loss_sums, grad_norms = [], 0.0, 0.0, [], []
    trim = heap_trimmer(base.device)
    with base.use(POLICY):  # eval mode throughout: no dropout, so pass 1's log-probs are the sampling policy's
        for epoch in range(config.epochs):
            optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for i, rows in enumerate(this.passes):
                hooks.say(f"Round {this.iteration}: policy update, pass {epoch + 1} of {config.epochs}, batch "
                          f"{i + 1} of {len(this.passes)}…")
                new, entropy = logprobs(base, this.batch, rows, config)
                if epoch == 0:  # the policy has not moved yet: these are the sampling policy's log-probs
                    old[rows] = new.detach()
                    entropies.append(masked_mean(entropy, mask[rows]).item())
                loss, clipped, token_kl = pass_loss(new, old[rows], None if ref is None else ref[rows],
                                                    advantages[rows], mask[rows], config, n, tokens)
                if epoch == 0 and token_kl is not None:
                    kl[rows] = (token_kl.detach() * mask[rows]).sum(1)
                check_finite(loss, this.iteration)
                trim()
                loss.backward()
                loss_sum += loss.item()
                low += (clipped.low.float() * mask[rows]).sum().item()
                high += (clipped.high.float() * mask[rows]).sum().item()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm).item()
            if not math.isfinite(grad_norm):
                raise Diverged(f"gradient became {grad_norm} at iteration {this.iteration}; stopped, "
                               "keeping the last good checkpoint")
            optimizer.step()
            loss_sums.append(loss_sum)
            grad_norms.append(grad_norm)
    trim()
    stds = losses.group_std(this.scores, k)
    seen = max(tokens, 1.0) * config.epochs
    return {**reward_terms(this, config), "reward_std": stds.mean().item(),
            "frac_reward_zero_std": torch.isclose(stds, torch.zeros_like(stds)).float().mean().item(),
            **({"kl": kl.mean().item()} if ref is not None else {}), "beta": config.beta,
            "logprob_mismatch": mismatch(this.sampled, old, mask), "entropy": sum(entropies) / len(entropies),
            "clip_frac_low": low / seen, "clip_frac_high": high / seen,
            "policy_loss": sum(loss_sums) / len(loss_sums), "grad_norm": sum(grad_norms) / len(grad_norms)}


def train_grpo(base: SharedBase, prompts: list[str], score_fn: ScoreFn, config: GRPOConfig, run_dir: Path,
               hooks: Hooks | None = None, resume: bool = False, init_adapter: str | None = "sft",
               policy_start: str | None = None) -> TrainResult:
    """Train adapter "policy" so that `score_fn(prompts, responses)` (one number per response) goes up."""
    return train_in_rounds(base, prompts, score_fn, config, run_dir, learn, hooks, resume,
                           init_adapter, policy_start)


train_grpo_online = on_terms(train_grpo)
