"""What reaches GRPO's loss in the loop: each answer's advantage is its score minus its group's mean (over its
std + 1e-4, or not divided with Dr. GRPO), the clip bounds are epsilon below and epsilon_high above, and the
beta * k3 KL to the reference is in the per-token loss exactly when beta > 0; all checked by hand."""
import math

import pytest
import torch

from studio.training import group_rounds, grpo, grpo_losses
from studio.training.online_configs import GRPOConfig
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels
from tests.training.test_rloo_wiring import moved_policy

K, EPSILON, EPSILON_HIGH = 4, 0.05, 0.3


def captured_round(base, monkeypatch, tmp_path, **overrides):
    """One round of GRPO from an SFT reference with a moved policy: (batch, config, what each loss call saw)."""
    add_random_sft(base)
    seen = {"reference_calls": 0}
    calls: list[dict] = []
    real_rollout, real_clipped, real_aggregate = (group_rounds.rollout, grpo_losses.clipped_token_loss,
                                                  grpo_losses.aggregate)
    real_reference = grpo.reference_logprobs

    def rollout(*args, **kwargs):
        seen["batch"] = real_rollout(*args, **kwargs)
        return seen["batch"]

    def clipped(logprobs, old, advantages, low, high):
        calls.append({"logprobs": logprobs.detach().clone(), "old": old.clone(), "advantages": advantages.clone(),
                      "low": low, "high": high})
        out = real_clipped(logprobs, old, advantages, low, high)
        calls[-1]["clipped"] = out.loss.detach().clone()
        return out

    def aggregate(per_token, mask, loss_type, **counts):
        loss = real_aggregate(per_token, mask, loss_type, **counts)
        calls[-1].update(per_token=per_token.detach().clone(), mask=mask.clone(), loss=loss.item(), counts=counts)
        return loss

    def reference(*args, **kwargs):
        seen["reference_calls"] += 1
        return real_reference(*args, **kwargs)

    monkeypatch.setattr(group_rounds, "start_policy", moved_policy)
    monkeypatch.setattr(group_rounds, "rollout", rollout)
    monkeypatch.setattr(grpo_losses, "clipped_token_loss", clipped)
    monkeypatch.setattr(grpo_losses, "aggregate", aggregate)
    monkeypatch.setattr(grpo, "reference_logprobs", reference)
    config = GRPOConfig(**{"iterations": 1, "batch_size": 2, "samples_per_prompt": K, "max_new_tokens": 12,
                           "lr": 1e-3, "checkpoint_every": 100, **overrides})
    result = grpo.train_grpo(base, PROMPTS, count_vowels, config, tmp_path, init_adapter="sft")
    assert result.status == "finished"
    return seen, group_rounds.with_device_lengths(config, "cpu"), calls


def by_hand(rewards: list[float], k: int, divide: bool) -> list[float]:
    """Each reward minus its group's mean, over the group's sample std + 1e-4 when `divide`."""
    out = []
    for g in range(0, len(rewards), k):
        group = rewards[g:g + k]
        mean = sum(group) / k
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (k - 1))
        out += [(r - mean) / (std + 1e-4) if divide else r - mean for r in group]
    return out


@pytest.mark.parametrize("scale", ["group", "none"])
def test_the_advantage_is_the_score_against_its_group(base, monkeypatch, tmp_path, scale):
    seen, _, calls = captured_round(base, monkeypatch, tmp_path, scale_rewards=scale)
    scores = count_vowels([], seen["batch"].texts).tolist()
    assert len({tuple(scores[g:g + K]) for g in range(0, len(scores), K)}) > 1  # the groups differ
    advantages = torch.cat([c["advantages"] for c in calls]).tolist()
    assert advantages == pytest.approx(by_hand(scores, K, scale == "group"), abs=1e-5)
    assert advantages != pytest.approx(by_hand(scores, K, scale != "group"), abs=1e-3)  # the switch matters


@pytest.mark.parametrize("beta", [0.0, 0.4])
def test_the_k3_kl_is_in_the_loss_exactly_when_beta_is_above_0(base, monkeypatch, tmp_path, beta):
    seen, config, calls = captured_round(base, monkeypatch, tmp_path, beta=beta)
    assert seen["reference_calls"] == (1 if beta > 0 else 0)  # beta 0: no reference forward at all
    policy = torch.cat([c["logprobs"] for c in calls])
    with base.use("sft"):  # the reference, scored apart from the run
        reference, _ = grpo.logprobs(base, seen["batch"], slice(None), config, entropy=False)
    mask = seen["batch"].response_mask.float()
    k3 = torch.exp(reference - policy) - (reference - policy) - 1
    assert (k3 * mask).sum(1).min() > 0.05  # the policy really differs from the reference
    expected = torch.cat([c["clipped"] for c in calls]) + beta * k3
    assert torch.allclose(torch.cat([c["per_token"] for c in calls]) * mask, expected * mask, atol=1e-5)


def test_the_clip_bounds_reach_the_loss_as_configured(base, monkeypatch, tmp_path):
    _, _, calls = captured_round(base, monkeypatch, tmp_path, epochs=2, lr=0.05, epsilon=EPSILON,
                                 epsilon_high=EPSILON_HIGH)
    assert {(c["low"], c["high"]) for c in calls} == {(EPSILON, EPSILON_HIGH)}
    second = calls[len(calls) // 2:]  # the second pass: the policy has moved, its ratios clip
    low = high = 0
    for c in second:
        ratio, adv = (c["logprobs"] - c["old"]).exp(), c["advantages"].unsqueeze(1)
        by_hand_loss = -torch.min(ratio * adv, ratio.clamp(1 - EPSILON, 1 + EPSILON_HIGH) * adv)
        assert torch.allclose(c["per_token"] * c["mask"], by_hand_loss * c["mask"], atol=1e-6)
        low += int((((ratio < 1 - EPSILON) & (adv < 0)) * c["mask"].bool()).sum())
        high += int((((ratio > 1 + EPSILON_HIGH) & (adv > 0)) * c["mask"].bool()).sum())
    assert low > 0  # the lower bound bit where it should


def test_dr_grpo_divides_the_round_by_responses_times_the_longest(base, monkeypatch, tmp_path):
    # beta > 0: at ratio 1 the clipped terms of a group cancel out (its advantages sum to 0), the KL's do not
    seen, config, calls = captured_round(base, monkeypatch, tmp_path, loss_type="dr_grpo", beta=0.4)
    mask = seen["batch"].response_mask.float()
    total = sum((c["per_token"] * c["mask"]).sum().item() for c in calls)
    assert abs(total) > 0.1
    assert sum(c["loss"] for c in calls) == pytest.approx(total / (mask.size(0) * config.max_new_tokens), abs=1e-6)
    assert all(c["counts"]["sequences"] == mask.size(0) for c in calls)
