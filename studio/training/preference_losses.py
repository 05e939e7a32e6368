"""The losses of the preference engines, apart from their loops: Bradley-Terry (reward model), sigmoid DPO and
TRL's KTO. Each takes plain tensors (scores or summed log-probs) and is tested on hand-made ones."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of `values * weights` over the batch: dividing by the batch size, a constant, and not by the batch's
    weight sum keeps every ranking's total weight equal whatever the batch holds (see `batches.pair_weights`)."""
    if weights is None:
        return values.mean()
    return (values * weights.to(values)).mean()


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean of -log sigmoid(r_chosen - r_rejected) over pairs."""
    return weighted_mean(-F.logsigmoid(chosen - rejected), weights)


def dpo_loss(pi_chosen: torch.Tensor, pi_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, weights: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sigmoid DPO loss, -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), as a weighted mean over pairs;
    also the implicit rewards beta * (pi - ref) of the chosen and rejected responses (detached)."""
    chosen_rewards = beta * (pi_chosen - ref_chosen)
    rejected_rewards = beta * (pi_rejected - ref_rejected)
    loss = bradley_terry_loss(chosen_rewards, rejected_rewards, weights)
    return loss, chosen_rewards.detach(), rejected_rewards.detach()


def kto_loss(policy: torch.Tensor, reference: torch.Tensor, desirable: torch.Tensor, policy_kl: torch.Tensor,
             reference_kl: torch.Tensor, beta: float, desirable_weight: float = 1.0, undesirable_weight: float = 1.0
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TRL's KTO loss as the mean over the batch; also the implicit rewards beta * (pi - ref) (detached) and the
    reference point z = mean(policy_kl - reference_kl), detached and clamped at 0.

    `policy`/`reference` are summed completion log-probs, `desirable` a bool per example; `policy_kl` and
    `reference_kl` the log-probs of the batch's mismatched pairs (`kto.mismatched`).
    """
    kl = (policy_kl - reference_kl).mean().detach().clamp(min=0)
    logratios = policy - reference
    losses = torch.where(desirable, desirable_weight * (1 - torch.sigmoid(beta * (logratios - kl))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (kl - logratios))))
    return losses.mean(), beta * logratios.detach(), kl
