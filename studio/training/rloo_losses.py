"""RLOO's small maths as pure tensor functions, each tested alone on hand-made tensors (see ppo_losses).

RLOO scores a whole response as one action: per-token tensors are (n, response_tokens) with `mask` 1.0
on real response tokens; per-response tensors are (n,), the k responses to one prompt side by side
(rows g*k .. g*k + k - 1 belong to prompt g), as TRL's RLOOTrainer and OpenRLHF order them.
"""
from __future__ import annotations

import torch

from studio.training.ppo_losses import kl_k1


def sequence_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(policy || ref) of each response: the summed per-token `log p - log p_ref` (k1, as RLOO's paper)."""
    return (kl_k1(logprobs, ref_logprobs) * mask).sum(1)


def leave_one_out_advantages(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """Each response's reward minus the mean reward of the other k - 1 responses to the same prompt."""
    if k < 2:
        raise ValueError("RLOO needs at least 2 responses per prompt")
    grouped = rewards.view(-1, k)
    baselines = (grouped.sum(1, keepdim=True) - grouped) / (k - 1)
    return (grouped - baselines).view(-1)


def sequence_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                         mask: torch.Tensor, clip: float, total: int | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE on whole responses with PPO's clip on the response's probability ratio.

    Returns (loss, number of clipped responses). The loss is `-sum(min(ratio * A, clip(ratio) * A)) / total`
    (`total` defaults to this batch's size), so micro-batches of one round, each divided by the round's
    size, add up to the round's mean. With `old_logprobs` equal to `logprobs` (the first pass) the ratio is
    1 and the gradient is plain REINFORCE with the leave-one-out baseline.
    """
    log_ratio = ((logprobs - old_logprobs) * mask).sum(1)
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    loss = -torch.min(unclipped, clipped).sum() / (total or advantages.numel())
    with torch.no_grad():
        clipped_count = (((ratio < 1 - clip) & (advantages < 0)) | ((ratio > 1 + clip) & (advantages > 0))).sum()
    return loss, clipped_count
