"""PPO's small pieces as pure tensor functions (the OpenRLHF layout), each tested alone on hand-made tensors.

Per-token tensors are (batch, response_tokens); `mask` is 1.0 on real response tokens (up to and
including the first EOS) and 0.0 on padding.
"""
from __future__ import annotations

import torch


class FixedKLController:
    """A constant KL coefficient beta (`value`)."""

    def __init__(self, init_kl_coef: float):
        self.value = init_kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        """A fixed controller never changes beta."""


class AdaptiveKLController(FixedKLController):
    """Ziegler et al. (2019): nudge beta so the measured KL drifts toward `target`.

    `beta *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon`, with n_steps the responses
    in the rollout that measured `kl`, and never below `FLOOR` x its start. The floor is ours: in the first
    rounds the policy has not moved yet, the KL sits far below target and a short horizon lets beta fall 20% a
    round; at a tenth of its start the leash is gone by the time the policy runs, and the KL overshot to 2x
    target (RESULTS section 23).
    """
    FLOOR = 0.5

    def __init__(self, init_kl_coef: float, target: float, horizon: int):
        super().__init__(init_kl_coef)
        self.target = target
        self.horizon = horizon
        self.floor = init_kl_coef * self.FLOOR

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1, -0.2), 0.2)
        self.value = max(self.value * (1 + proportional_error * n_steps / self.horizon), self.floor)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `x` over the entries where `mask` is 1 (along `dim`, or all of them)."""
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1e-8)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1e-8)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance of the masked entries of `x`."""
    centred = x - masked_mean(x, mask)
    n = mask.sum()
    return masked_mean(centred ** 2, mask) * n / (n - 1).clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Rescale the masked entries of `x` to unit variance (and zero mean when `shift_mean`); padding -> 0."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) under `logits` (batch, T, vocab), computed in float32."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def kl_k1(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || ref) estimate `log p - log p_ref` for tokens sampled from the policy (unbiased, noisy)."""
    return logprobs - ref_logprobs


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimate `(r - 1) - log r`, r = p_ref / p: unbiased, never negative, lower variance."""
    log_ratio = ref_logprobs - logprobs
    return log_ratio.exp() - 1 - log_ratio


def kl_penalty_rewards(score: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                       mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-token rewards `-beta * (log p - log p_ref)`, plus each sequence's `score` on its last valid token."""
    rewards = -beta * kl_k1(logprobs, ref_logprobs) * mask
    last = mask.size(1) - 1 - mask.flip(1).argmax(1)
    rewards[torch.arange(rewards.size(0), device=rewards.device), last] += score.to(rewards.dtype)
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns (advantages, returns = advantages + values), 0 on padding."""
    rewards, values = rewards * mask, values * mask
    steps = rewards.size(1)
    running = torch.zeros_like(rewards[:, 0])
    reversed_advantages = []
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        reversed_advantages.append(running)
    advantages = torch.stack(reversed_advantages[::-1], dim=1) * mask
    return advantages, (advantages + values) * mask


def policy_loss(new_logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate loss; returns (loss, clip fraction, approx KL(old || new) by the k3 estimator)."""
    log_ratio = new_logprobs - old_logprobs
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip, 1 + clip)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        clip_frac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean(kl_k3(old_logprobs, new_logprobs), mask)
    return loss, clip_frac, approx_kl


def value_loss(new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float) -> torch.Tensor:
    """Clipped value loss: `0.5 * max((v - R)^2, (v_clipped - R)^2)`, v_clipped within `clip` of the old value."""
    clipped = old_values + (new_values - old_values).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.max((new_values - returns) ** 2, (clipped - returns) ** 2), mask)

