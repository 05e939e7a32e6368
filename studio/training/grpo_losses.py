"""GRPO's small maths as pure tensor functions, each tested alone on hand-made tensors (see rloo_losses).

Per-token tensors are (n, response_tokens) with `mask` 1.0 on real response tokens; per-response tensors are
(n,), the k responses to one prompt side by side (rows g*k .. g*k + k - 1 belong to prompt g), as TRL's
GRPOTrainer orders them. Formulas and names follow TRL 1.16's `GRPOTrainer._compute_loss`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-4  # TRL's: added to the group's std before dividing
SCALES = ("group", "batch", "none")  # TRL's `scale_rewards`
LOSS_TYPES = ("dapo", "grpo", "dr_grpo")  # TRL's `loss_type`s of the clipped objective


def group_advantages(rewards: torch.Tensor, k: int, scale: str = "group") -> torch.Tensor:
    """Each reward minus its group's mean, divided by the group's std + EPS ("group"), the round's std + EPS
    ("batch") or not at all ("none": Dr. GRPO). Stds are the sample std (n - 1), as TRL's `nanstd`."""
    if k < 2:
        raise ValueError("GRPO needs at least 2 responses per prompt")
    grouped = rewards.view(-1, k)
    centred = grouped - grouped.mean(1, keepdim=True)
    if scale == "group":
        centred = centred / (grouped.std(1, keepdim=True) + EPS)
    elif scale == "batch":
        centred = centred / (rewards.std() + EPS)
    elif scale != "none":
        raise ValueError(f"scale_rewards must be one of {', '.join(SCALES)}, got {scale!r}")
    return centred.reshape(-1)


def group_std(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """(n / k,) the sample std of each group's rewards: 0 where every answer scored the same (nothing learned)."""
    return rewards.view(-1, k).std(1)


@dataclass
class Clipped:
    """The clipped objective per token, with where each clip bound bit (bool, (n, T))."""

    loss: torch.Tensor  # -min(ratio * A, clip(ratio, 1 - low, 1 + high) * A)
    low: torch.Tensor  # ratio < 1 - low with A < 0
    high: torch.Tensor  # ratio > 1 + high with A > 0


def clipped_token_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                       epsilon_low: float, epsilon_high: float) -> Clipped:
    """PPO's clipped surrogate per token with separate lower and upper clip ranges (DAPO's clip-higher)."""
    ratio = (logprobs - old_logprobs).exp()
    adv = advantages.unsqueeze(1)
    loss = -torch.min(ratio * adv, ratio.clamp(1 - epsilon_low, 1 + epsilon_high) * adv)
    with torch.no_grad():
        return Clipped(loss, (ratio < 1 - epsilon_low) & (adv < 0), (ratio > 1 + epsilon_high) & (adv > 0))


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: str, *, sequences: int | None = None,
              tokens: float | None = None, max_length: int | None = None) -> torch.Tensor:
    """The loss of a batch of rows from the per-token loss, as TRL's `loss_type` says.

    "dapo": the sum over every real token / the round's token count (`tokens`); "grpo": each response's mean
    over its tokens, summed / the round's response count (`sequences`); "dr_grpo": the sum / (`sequences` x
    `max_length`), a constant. `sequences` and `tokens` default to this batch's, so micro-batches of one round,
    each given the round's counts, add up to the round's loss.
    """
    sequences = sequences or per_token.size(0)
    if loss_type == "dapo":
        return (per_token * mask).sum() / max(tokens if tokens is not None else mask.sum().item(), 1.0)
    if loss_type == "grpo":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)).sum() / sequences
    if loss_type == "dr_grpo":
        if not max_length:
            raise ValueError("dr_grpo normalises by the longest completion: give max_length")
        return (per_token * mask).sum() / (sequences * max_length)
    raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {loss_type!r}")
