"""The losses of the preference engines, apart from their loops: Bradley-Terry (reward model), sigmoid DPO,
TRL's KTO, and for whole rankings Plackett-Luce (reward model) and DPO's Plackett-Luce form. Each takes plain
tensors (scores or summed log-probs) and is tested on hand-made ones.

A batch of rankings is a (B, K) tensor of answers' scores with `places` (B, K): each answer's group in its
ranking, 0 = best, tied answers share a place, -1 = padding (a ranking of fewer than K answers)."""
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


def plackett_luce_loss(scores: torch.Tensor, places: torch.Tensor,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """Negative Plackett-Luce log-likelihood of each ranking, divided by its number of choices (so each ranking
    weighs 1, as its pairs do together), as a weighted mean over rankings.

    Ties: every answer is chosen, in turn, from itself and every answer ranked below it; answers tied with it
    are not in its pool, so a tie says nothing about their order (as a tie gives no pair in the pair
    decomposition) and the last group chooses nothing. A strict ranking is plain Plackett-Luce; K = 2 is
    Bradley-Terry.
    """
    valid = places >= 0
    below = (places[:, None, :] > places[:, :, None]) & valid[:, None, :]  # [b, i, j]: j ranked below i
    chooses = below.any(-1) & valid
    pool = below | torch.eye(places.size(1), dtype=torch.bool, device=places.device)
    log_p = scores - torch.logsumexp(scores[:, None, :].masked_fill(~pool, float("-inf")), dim=-1)
    per_ranking = -torch.where(chooses, log_p, 0.0).sum(-1) / chooses.sum(-1).clamp(min=1)
    return weighted_mean(per_ranking, weights)


def listwise_dpo_loss(pi: torch.Tensor, ref: torch.Tensor, places: torch.Tensor, beta: float,
                      weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO's Plackett-Luce form (Rafailov et al. 2023, appendix A.3): the Plackett-Luce loss of the implicit
    rewards beta * (pi - ref) of each ranking's answers; also those rewards (detached). `pi`, `ref`: summed
    response log-probs (B, K)."""
    rewards = beta * (pi - ref)
    return plackett_luce_loss(rewards, places, weights), rewards.detach()


def ranked_pairs(scores: torch.Tensor, places: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(better, worse) scores of every pair of a batch of rankings whose answers are in different places."""
    valid = places >= 0
    better = (places[:, :, None] < places[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    k = places.size(1)
    return scores[:, :, None].expand(-1, k, k)[better], scores[:, None, :].expand(-1, k, k)[better]


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
