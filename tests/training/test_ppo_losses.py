"""PPO's pure pieces on hand-made tensors with hand-computed answers."""
import math

import pytest
import torch

from studio.training.ppo_losses import (AdaptiveKLController, FixedKLController, gae, kl_k1,
                                        kl_k3, kl_penalty_rewards, masked_mean, masked_whiten, policy_loss,
                                        token_logprobs, value_loss)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_gae_matches_a_hand_computed_three_step_example():
    # gamma 0.9, lam 0.8: deltas 1+0.9*1-0.5=1.4, 0+0.9*1.5-1=0.35, 2+0-1.5=0.5
    # A2=0.5, A1=0.35+0.72*0.5=0.71, A0=1.4+0.72*0.71=1.9112; returns = A + V
    rewards, values = t([1.0, 0.0, 2.0, 9.0]), t([0.5, 1.0, 1.5, 7.0])  # the 4th token is padding
    advantages, returns = gae(rewards, values, t([1, 1, 1, 0]), gamma=0.9, lam=0.8)
    assert advantages.tolist()[0] == pytest.approx([1.9112, 0.71, 0.5, 0.0], abs=1e-5)
    assert returns.tolist()[0] == pytest.approx([2.4112, 1.71, 2.0, 0.0], abs=1e-5)


def test_gae_with_no_discount_is_reward_to_go_minus_value():
    advantages, returns = gae(t([1.0, 0.0, 2.0]), t([0.5, 1.0, 1.5]), t([1, 1, 1]), gamma=1.0, lam=1.0)
    assert advantages.tolist()[0] == pytest.approx([2.5, 1.0, 0.5])
    assert returns.tolist()[0] == pytest.approx([3.0, 2.0, 2.0])


def test_kl_penalty_rewards_penalise_every_token_and_add_the_score_at_the_last_one():
    logprobs = t([-1.0, -2.0, -3.0], [-1.0, -1.0, 0.0])
    ref = t([-1.5, -2.0, -2.0], [-1.0, -2.0, -5.0])
    mask = t([1, 1, 1], [1, 1, 0])
    rewards = kl_penalty_rewards(t(2.0, -1.0), logprobs, ref, mask, beta=0.1)
    assert rewards.tolist()[0] == pytest.approx([-0.05, 0.0, 2.1])
    assert rewards.tolist()[1] == pytest.approx([0.0, -1.1, 0.0])


def test_adaptive_kl_moves_beta_toward_the_target_within_the_clip():
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(current_kl=12.0, n_steps=1000)  # error 1.0, clipped to 0.2
    assert ctl.value == pytest.approx(0.1 * 1.02)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(current_kl=6.6, n_steps=1000)  # error 0.1, inside the clip
    assert ctl.value == pytest.approx(0.1 * 1.01)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(current_kl=0.0, n_steps=1000)  # error -1.0, clipped to -0.2
    assert ctl.value == pytest.approx(0.1 * 0.98)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=1000)
    for _ in range(4):  # 0.08, 0.064, then held at half the start
        ctl.update(current_kl=0.0, n_steps=1000)
    assert ctl.value == pytest.approx(0.05)
    ctl.update(current_kl=12.0, n_steps=1000)  # and it still rises from the floor
    assert ctl.value == pytest.approx(0.05 * 1.2)
    fixed = FixedKLController(0.1)
    fixed.update(current_kl=100.0, n_steps=1000)
    assert fixed.value == 0.1


def test_policy_loss_clips_only_where_the_pessimistic_bound_binds():
    ratios = [1.5, 0.5, 1.1, 0.5, 9.0]  # the last token is padding
    old = torch.zeros(1, 5)
    new = torch.log(t(ratios)).requires_grad_()
    advantages, mask = t([1.0, 1.0, -1.0, -1.0, 5.0]), t([1, 1, 1, 1, 0])
    loss, clip_frac, approx_kl = policy_loss(new, old, advantages, mask, clip=0.2)
    # per token: max(-A*r, -A*clip(r)) = -1.2 (clipped), -0.5, 1.1, 0.8 (clipped)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.1 + 0.8) / 4)
    assert clip_frac.item() == pytest.approx(0.5)
    assert approx_kl.item() == pytest.approx(sum(r - 1 - math.log(r) for r in ratios[:4]) / 4)  # k3
    loss.backward()
    assert new.grad[0, 0] == 0 and new.grad[0, 3] == 0 and new.grad[0, 4] == 0  # clipped tokens and padding
    assert new.grad[0, 1] != 0 and new.grad[0, 2] != 0


def test_value_loss_is_clipped_around_the_old_value():
    new, old, returns = t([1.0, 0.1]), t([0.0, 0.0]), t([1.0, -1.0])
    # token 0: unclipped 0, clipped (0.2-1)^2 = 0.64 -> 0.64; token 1: 1.21 either way
    assert value_loss(new, old, returns, t([1, 1]), clip=0.2).item() == pytest.approx(0.5 * (0.64 + 1.21) / 2)


def test_masked_whiten_ignores_padding():
    x, mask = t([1.0, 2.0, 3.0, 4.0, 100.0]), t([1, 1, 1, 1, 0])
    white = masked_whiten(x, mask)
    assert masked_mean(white, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert white[0, :4].var().item() == pytest.approx(1.0, abs=1e-4)  # unbiased, like torch.var
    assert white[0, 4] == 0
    kept = masked_whiten(x, mask, shift_mean=False)
    assert masked_mean(kept, mask).item() == pytest.approx(2.5)


def test_masked_mean_along_a_dimension():
    assert masked_mean(t([1.0, 3.0, 50.0], [2.0, 0.0, 0.0]), t([1, 1, 0], [1, 0, 0]), dim=1).tolist() == [2.0, 2.0]


def test_kl_estimators_agree_with_the_exact_kl_on_samples():
    torch.manual_seed(0)
    p, q = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.2, 0.3, 0.5])
    exact = (p * (p / q).log()).sum().item()
    tokens = torch.multinomial(p, 200_000, replacement=True)
    logp, logq = p.log()[tokens], q.log()[tokens]
    assert kl_k1(logp, logq).mean().item() == pytest.approx(exact, abs=0.01)
    assert kl_k3(logp, logq).mean().item() == pytest.approx(exact, abs=0.01)
    assert (kl_k3(logp, logq) >= 0).all()
    assert kl_k3(logp, logp).abs().max() == 0


def test_token_logprobs_pick_the_sampled_tokens():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]]))
    assert token_logprobs(logits, torch.tensor([[0, 2]])).exp().tolist()[0] == pytest.approx([0.5, 0.8])
