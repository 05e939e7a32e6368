"""RLOO's maths on hand-made tensors: against a hand computation and against TRL 1.16's RLOOTrainer formulas."""
import pytest
import torch

from studio.training.rloo_losses import leave_one_out_advantages, sequence_kl, sequence_policy_loss


def trl_rloo_advantages(rewards: torch.Tensor, num_generations: int) -> torch.Tensor:
    """TRL 1.16 `RLOOTrainer._generate_and_score_completions` (every completion scorable, no normalisation)."""
    grouped_rewards = rewards.view(-1, num_generations)
    scorable_counts = (~torch.isnan(grouped_rewards)).sum(dim=1, keepdim=True)
    grouped_sum = torch.nansum(grouped_rewards, dim=1, keepdim=True)
    baselines = (grouped_sum - grouped_rewards) / (scorable_counts - 1)
    return rewards - baselines.view(-1)


def trl_rloo_loss(logps, old_logps, advantages, epsilon):
    """TRL 1.16 `RLOOTrainer._compute_loss` on summed response log-probs."""
    coef_1 = torch.exp(logps - old_logps)
    coef_2 = torch.clamp(coef_1, 1 - epsilon, 1 + epsilon)
    return -torch.min(coef_1 * advantages, coef_2 * advantages).mean()


def test_leave_one_out_advantages_by_hand():
    rewards = torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 3.0])  # two prompts, k = 3
    # prompt 1: 1 - (2+6)/2 = -3, 2 - (1+6)/2 = -1.5, 6 - (1+2)/2 = 4.5; prompt 2: -1.5, -1.5, 3
    expected = torch.tensor([-3.0, -1.5, 4.5, -1.5, -1.5, 3.0])
    assert torch.allclose(leave_one_out_advantages(rewards, 3), expected)
    # k = 2 compares the two responses directly
    assert torch.allclose(leave_one_out_advantages(torch.tensor([5.0, 2.0]), 2), torch.tensor([3.0, -3.0]))


def test_leave_one_out_advantages_match_trl_and_sum_to_zero_per_prompt():
    torch.manual_seed(0)
    rewards = torch.randn(24)
    for k in (2, 3, 4, 8):
        ours = leave_one_out_advantages(rewards, k)
        assert torch.allclose(ours, trl_rloo_advantages(rewards, k), atol=1e-6)
        # equivalently (k / (k-1)) * (r - group mean), Ahmadian et al. eq. 6
        grouped = rewards.view(-1, k)
        scaled = k / (k - 1) * (grouped - grouped.mean(1, keepdim=True))
        assert torch.allclose(ours, scaled.view(-1), atol=1e-6)
        assert torch.allclose(ours.view(-1, k).sum(1), torch.zeros(24 // k), atol=1e-5)


def test_leave_one_out_needs_two_responses():
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out_advantages(torch.tensor([1.0, 2.0]), 1)


def test_sequence_kl_sums_masked_log_ratios():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-0.1, -0.2, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-0.3, -0.2, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    # row 1: 0.5 - 1.0 + 0 = -0.5 (k1 can be negative per response); row 2: 0.2 + 0, padding ignored
    assert torch.allclose(sequence_kl(logprobs, ref, mask), torch.tensor([-0.5, 0.2]))


def test_policy_loss_by_hand():
    # response log-probs summed over the mask: new = [-3, -1], old = [-3.5, -0.5]: ratios e^0.5, e^-0.5
    new = torch.tensor([[-1.0, -2.0, -7.0], [-1.0, 0.0, 0.0]])
    old = torch.tensor([[-1.5, -2.0, -1.0], [-0.5, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    advantages = torch.tensor([2.0, -1.0])
    loss, clipped = sequence_policy_loss(new, old, advantages, mask, clip=0.2)
    # A > 0, ratio 1.649 > 1.2: min(1.649 * 2, 1.2 * 2) = 2.4; A < 0, ratio 0.607 < 0.8: min(-0.607, -0.8) = -0.8
    assert loss.item() == pytest.approx(-(2.4 - 0.8) / 2)
    assert int(clipped) == 2
    micro = sum(sequence_policy_loss(new[i:i + 1], old[i:i + 1], advantages[i:i + 1], mask[i:i + 1], 0.2,
                                     total=2)[0] for i in range(2))
    assert micro.item() == pytest.approx(loss.item())  # micro-batches divided by the round size add up


def test_policy_loss_matches_trl_and_its_first_pass_gradient_is_reinforce():
    torch.manual_seed(1)
    mask = (torch.rand(6, 5) > 0.3).float()
    old = -torch.rand(6, 5) * 3
    new = (old + 0.3 * torch.randn(6, 5)).requires_grad_()
    advantages = torch.randn(6)
    ours, _ = sequence_policy_loss(new, old, advantages, mask, clip=0.2)
    reference = trl_rloo_loss((new * mask).sum(1), (old * mask).sum(1), advantages, 0.2)
    assert ours.item() == pytest.approx(reference.item(), rel=1e-6)

    logprobs = old.clone().requires_grad_()  # first pass: old = new, ratio 1
    sequence_policy_loss(logprobs, old, advantages, mask, clip=0.2)[0].backward()
    # d/dlogp of -mean(A * exp(sum(logp) - sum(old))) at ratio 1 = -A / n on every real token
    assert torch.allclose(logprobs.grad, -advantages[:, None] / 6 * mask)
