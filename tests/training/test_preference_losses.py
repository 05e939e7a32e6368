"""The preference losses on hand-made tensors: Bradley-Terry, sigmoid DPO and TRL's KTO."""
import math

import pytest
import torch
import torch.nn.functional as F

from studio.training.preference_losses import bradley_terry_loss, dpo_loss, kto_loss


def test_bradley_terry_matches_trl_and_hand_values():
    chosen, rejected = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.0, 1.0])
    # TRL RewardTrainer.compute_loss: -nn.functional.logsigmoid(rewards_chosen - rewards_rejected).mean()
    trl = -F.logsigmoid(chosen - rejected).mean()
    assert torch.allclose(bradley_terry_loss(chosen, rejected), trl)
    hand = [math.log1p(math.exp(-1.0)), math.log(2.0), math.log1p(math.exp(2.0))]
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(sum(hand) / 3, rel=1e-6)
    weights = torch.tensor([1.0, 1 / 3, 1 / 3])
    expected = (hand[0] + hand[1] / 3 + hand[2] / 3) / 3  # divided by the batch size, not the weight sum
    assert bradley_terry_loss(chosen, rejected, weights).item() == pytest.approx(expected, rel=1e-6)


def test_dpo_loss_on_hand_made_tensors():
    zeros = torch.zeros(3)
    loss, chosen, rejected = dpo_loss(zeros, zeros, zeros, zeros, beta=0.1)
    assert loss.item() == pytest.approx(math.log(2))
    assert chosen.tolist() == rejected.tolist() == [0.0, 0.0, 0.0]
    # identical shifts of policy and reference cancel out
    loss, _, _ = dpo_loss(torch.tensor([-5.0]), torch.tensor([-7.0]), torch.tensor([-5.0]), torch.tensor([-7.0]), 0.5)
    assert loss.item() == pytest.approx(math.log(2))
    pi_c, pi_r = torch.tensor([-10.0, -12.0]), torch.tensor([-14.0, -11.0])
    ref_c, ref_r = torch.tensor([-11.0, -12.0]), torch.tensor([-13.0, -12.0])
    loss, chosen, rejected = dpo_loss(pi_c, pi_r, ref_c, ref_r, beta=0.5)
    assert chosen.tolist() == [0.5, 0.0] and rejected.tolist() == [-0.5, 0.5]
    per_pair = [math.log1p(math.exp(-1.0)), math.log1p(math.exp(0.5))]  # -log sigmoid(margin) for margins 1, -0.5
    assert loss.item() == pytest.approx(sum(per_pair) / 2, rel=1e-6)
    weighted, _, _ = dpo_loss(pi_c, pi_r, ref_c, ref_r, beta=0.5, weights=torch.tensor([1.0, 1 / 3]))
    assert weighted.item() == pytest.approx((per_pair[0] + per_pair[1] / 3) / 2, rel=1e-6)  # over the batch size


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_kto_loss_against_a_hand_computation():
    policy, reference = torch.tensor([-10.0, -12.0, -9.0]), torch.tensor([-11.0, -11.0, -9.0])
    desirable = torch.tensor([True, False, False])
    policy_kl, reference_kl = torch.tensor([-20.0, -22.0]), torch.tensor([-21.0, -24.0])  # z = mean(1, 2) = 1.5
    loss, rewards, kl = kto_loss(policy, reference, desirable, policy_kl, reference_kl, beta=0.5,
                                 desirable_weight=2.0, undesirable_weight=0.5)
    assert kl.item() == pytest.approx(1.5)
    assert rewards.tolist() == [0.5, -0.5, 0.0]  # beta * log-ratios 1, -1, 0
    by_hand = [2.0 * (1 - sig(0.5 * (1 - 1.5))), 0.5 * (1 - sig(0.5 * (1.5 + 1))), 0.5 * (1 - sig(0.5 * 1.5))]
    assert loss.item() == pytest.approx(sum(by_hand) / 3, rel=1e-6)
    # a policy less likely than the reference on the mismatched pairs: z is clamped at 0
    _, _, kl = kto_loss(policy, reference, desirable, reference_kl, policy_kl, beta=0.5)
    assert kl.item() == 0.0
    # identical policy and reference: every example loses exactly 1 - sigmoid(0) = 0.5
    loss, _, _ = kto_loss(reference, reference, desirable, reference_kl, reference_kl, beta=0.1)
    assert loss.item() == pytest.approx(0.5)


def trl_kto_loss(policy_chosen_logps, policy_rejected_logps, policy_KL_logps, reference_chosen_logps,
                 reference_rejected_logps, reference_KL_logps, beta, desirable_weight, undesirable_weight):
    """TRL's KTOTrainer.kto_loss (loss_type "kto") and its batch reduction, transcribed for one process."""
    kl = (policy_KL_logps - reference_KL_logps).mean().detach()
    kl = kl.mean().clamp(min=0)
    chosen_logratios = policy_chosen_logps - reference_chosen_logps
    chosen_losses = 1 - F.sigmoid(beta * (chosen_logratios - kl))
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_logratios = policy_rejected_logps - reference_rejected_logps
    rejected_losses = 1 - F.sigmoid(beta * (kl - rejected_logratios))
    rejected_rewards = beta * rejected_logratios.detach()
    losses = torch.cat((desirable_weight * chosen_losses, undesirable_weight * rejected_losses), 0)
    return losses.nanmean(), chosen_rewards, rejected_rewards, kl


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kto_loss_matches_trl_formula(seed):
    g = torch.Generator().manual_seed(seed)
    n = 9
    policy = -30 * torch.rand(n, generator=g) - 1
    reference = policy + torch.randn(n, generator=g) * 3
    desirable = torch.rand(n, generator=g) > 0.4
    policy_kl = -30 * torch.rand(n, generator=g) - 1
    reference_kl = policy_kl + torch.randn(n, generator=g) - 0.5
    policy.requires_grad_(True)
    ours, rewards, kl = kto_loss(policy, reference, desirable, policy_kl, reference_kl, 0.3, 1.33, 0.8)
    theirs, chosen, rejected, trl_kl = trl_kto_loss(policy[desirable], policy[~desirable], policy_kl,
                                                    reference[desirable], reference[~desirable], reference_kl,
                                                    0.3, 1.33, 0.8)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert kl.item() == pytest.approx(trl_kl.item())
    assert torch.allclose(rewards[desirable], chosen) and torch.allclose(rewards[~desirable], rejected)
    ours_grad, = torch.autograd.grad(ours, policy)
    theirs_grad, = torch.autograd.grad(theirs, policy)
    assert torch.allclose(ours_grad, theirs_grad, atol=1e-7)


def test_reference_point_carries_no_gradient():
    policy_kl = torch.tensor([-3.0, -4.0], requires_grad=True)
    policy = torch.tensor([-2.0, -5.0], requires_grad=True)
    loss, _, _ = kto_loss(policy, torch.tensor([-3.0, -4.0]), torch.tensor([True, False]), policy_kl,
                          torch.tensor([-5.0, -5.0]), beta=0.1)
    loss.backward()
    assert policy_kl.grad is None and policy.grad is not None and policy.grad.abs().sum() > 0
