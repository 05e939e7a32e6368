"""GRPO's maths on hand-made tensors, each number worked out by hand (TRL 1.16's formulas)."""
import math

import pytest
import torch

from studio.training.grpo_losses import EPS, aggregate, clipped_token_loss, group_advantages, group_std
from studio.training.ppo_losses import kl_k3

# two prompts, k = 3: group 1 scores 1, 2, 3 (mean 2, sample std 1); group 2 scores 0, 0, 6 (mean 2, std sqrt 12)
REWARDS = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 6.0])


def test_advantages_are_divided_by_their_own_groups_std():
    s2 = math.sqrt(12)
    expected = [-1 / (1 + EPS), 0.0, 1 / (1 + EPS), -2 / (s2 + EPS), -2 / (s2 + EPS), 4 / (s2 + EPS)]
    assert group_advantages(REWARDS, 3).tolist() == pytest.approx(expected, abs=1e-6)


def test_dr_grpo_keeps_the_centred_rewards_unscaled():
    assert group_advantages(REWARDS, 3, "none").tolist() == pytest.approx([-1, 0, 1, -2, -2, 4])


def test_batch_scaling_divides_by_the_rounds_std():
    std = REWARDS.std().item()  # sample std over all six: sqrt(26 / 5)
    assert std == pytest.approx(math.sqrt(26 / 5))
    assert group_advantages(REWARDS, 3, "batch").tolist() == pytest.approx(
        [v / (std + EPS) for v in (-1, 0, 1, -2, -2, 4)], abs=1e-6)


def test_a_group_that_scored_alike_has_no_advantage_and_zero_std():
    same = torch.tensor([0.5, 0.5, 0.5, 1.0, 2.0, 3.0])
    assert group_advantages(same, 3).tolist()[:3] == [0.0, 0.0, 0.0]
    assert group_std(same, 3).tolist() == pytest.approx([0.0, 1.0])


def test_bad_k_and_scale_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(REWARDS, 1)
    with pytest.raises(ValueError, match="scale_rewards must be one of"):
        group_advantages(REWARDS, 3, "std")


def test_k3_kl_by_hand():
    logp, ref = torch.tensor([[-1.0, -2.0, -0.5]]), torch.tensor([[-1.0, -1.0, -1.5]])
    # delta = ref - logp = 0, 1, -1
    expected = [0.0, math.e - 1 - 1, math.exp(-1) + 1 - 1]
    assert kl_k3(logp, ref)[0].tolist() == pytest.approx(expected)
    assert (kl_k3(torch.randn(4, 7), torch.randn(4, 7)) >= 0).all()


def test_the_clip_bounds_are_asymmetric():
    # ratios 0.7, 0.85, 1.1, 1.25, 1.4 on one response, advantage +1 then -1
    ratios = torch.tensor([[0.7, 0.85, 1.1, 1.25, 1.4]])
    old = torch.zeros_like(ratios)
    low, high = 0.2, 0.3  # keep ratios in [0.8, 1.3]
    up = clipped_token_loss(ratios.log(), old, torch.tensor([1.0]), low, high)
    # A > 0: -min(r, clip(r)) -> only the top bound bites: 0.7, 0.85, 1.1, 1.25, 1.3
    assert (-up.loss)[0].tolist() == pytest.approx([0.7, 0.85, 1.1, 1.25, 1.3])
    assert up.high[0].tolist() == [False, False, False, False, True] and not up.low.any()
    down = clipped_token_loss(ratios.log(), old, torch.tensor([-1.0]), low, high)
    # A < 0: -min(-r, -clip(r)) = max(r, clip(r)) -> only the bottom bound bites: 0.8, 0.85, 1.1, 1.25, 1.4
    assert down.loss[0].tolist() == pytest.approx([0.8, 0.85, 1.1, 1.25, 1.4])
    assert down.low[0].tolist() == [True, False, False, False, False] and not down.high.any()
    # with the bounds swapped (0.3 low, 0.2 high) the same ratios clip elsewhere
    swapped = clipped_token_loss(ratios.log(), old, torch.tensor([1.0]), high, low)
    assert (-swapped.loss)[0].tolist() == pytest.approx([0.7, 0.85, 1.1, 1.2, 1.2])


def test_the_clipped_gradient_is_zero_only_where_a_bound_bit():
    logp = torch.tensor([[0.7, 1.1, 1.4]]).log().requires_grad_()
    clipped_token_loss(logp, torch.zeros(1, 3), torch.tensor([1.0]), 0.2, 0.3).loss.sum().backward()
    # d(-r)/dlogp = -r where unclipped; 0 where clipped (1.4 > 1.3)
    assert logp.grad[0].tolist() == pytest.approx([-0.7, -1.1, 0.0])


PER_TOKEN = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])


def test_dapo_averages_over_every_token_of_the_round():
    assert aggregate(PER_TOKEN, MASK, "dapo").item() == pytest.approx((1 + 2 + 3 + 4) / 4)
    # two micro-batches, each given the round's token count, add up to the round's loss
    halves = sum(aggregate(PER_TOKEN[i:i + 1], MASK[i:i + 1], "dapo", tokens=4.0) for i in range(2))
    assert halves.item() == pytest.approx(2.5)


def test_grpo_averages_each_response_then_the_responses():
    assert aggregate(PER_TOKEN, MASK, "grpo").item() == pytest.approx((2.0 + 4.0) / 2)
    halves = sum(aggregate(PER_TOKEN[i:i + 1], MASK[i:i + 1], "grpo", sequences=2) for i in range(2))
    assert halves.item() == pytest.approx(3.0)


def test_dr_grpo_divides_by_a_constant():
    assert aggregate(PER_TOKEN, MASK, "dr_grpo", max_length=5).item() == pytest.approx(10 / (2 * 5))
    with pytest.raises(ValueError, match="max_length"):
        aggregate(PER_TOKEN, MASK, "dr_grpo")
    with pytest.raises(ValueError, match="loss_type must be one of"):
        aggregate(PER_TOKEN, MASK, "bnpo")
