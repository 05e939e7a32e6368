"""What reaches RLOO's gradient: each response's advantage is its score (plus the missing-EOS penalty) minus
beta times its KL to the reference, minus the mean of the same over its k - 1 siblings, checked by hand."""
import pytest
import torch

from studio.training import group_rounds, rloo
from studio.training.online_configs import RLOOConfig
from studio.training.online_policy import POLICY, start_policy
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels

BETA, PENALTY, K = 0.7, -3.0, 4


def moved_policy(base, init_adapter, lora_r, lora_alpha, policy_start=None):
    """`online_policy.start_policy`, then the policy's LoRA moved at random: policy != reference from the first round."""
    reference = start_policy(base, init_adapter, lora_r, lora_alpha, policy_start)
    torch.manual_seed(2)
    with torch.no_grad():
        for name, p in base.peft.named_parameters():
            if f".{POLICY}." in name and "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.3)
    return reference


def captured_round(base, monkeypatch, tmp_path, **overrides):
    """One round of RLOO from an SFT reference with a moved policy: (batch, config, [(log-probs, advantages,
    mask) of each first-pass loss call])."""
    add_random_sft(base)
    seen, calls = {}, []
    real_rollout, real_loss = group_rounds.rollout, rloo.sequence_policy_loss

    def rollout(*args, **kwargs):
        seen["batch"] = real_rollout(*args, **kwargs)
        return seen["batch"]

    def loss(logprobs, old_logprobs, advantages, mask, clip, total=None):
        calls.append((logprobs.detach().clone(), advantages.detach().clone(), mask.clone()))
        return real_loss(logprobs, old_logprobs, advantages, mask, clip, total)

    monkeypatch.setattr(group_rounds, "start_policy", moved_policy)
    monkeypatch.setattr(group_rounds, "rollout", rollout)
    monkeypatch.setattr(rloo, "sequence_policy_loss", loss)
    config = RLOOConfig(**{"iterations": 1, "batch_size": 2, "samples_per_prompt": K, "max_new_tokens": 12,
                           "beta": BETA, "lr": 1e-3, "checkpoint_every": 100, **overrides})
    result = rloo.train_rloo(base, PROMPTS, count_vowels, config, tmp_path, init_adapter="sft")
    assert result.status == "finished"
    return seen["batch"], group_rounds.with_device_lengths(config, "cpu"), calls


def by_hand(rewards: list[float], k: int) -> list[float]:
    """Each reward minus the mean of the other k - 1 in its group."""
    out = []
    for g in range(0, len(rewards), k):
        group = rewards[g:g + k]
        out += [r - (sum(group) - r) / (k - 1) for r in group]
    return out


def test_the_advantage_is_the_score_minus_the_kl_price(base, monkeypatch, tmp_path):
    batch, config, calls = captured_round(base, monkeypatch, tmp_path)
    policy = torch.cat([c[0] for c in calls])
    with base.use("sft"):  # the reference, scored apart from the run
        reference, _ = rloo.logprobs(base, batch, slice(None), config, entropy=False)
    mask = batch.response_mask.float()
    kl = ((policy - reference) * mask).sum(1)
    assert kl.abs().min() > 0.05  # the policy really differs from the reference
    scores = count_vowels([], batch.texts)
    expected = by_hand((scores - BETA * kl).tolist(), K)
    assert torch.cat([c[1] for c in calls]).tolist() == pytest.approx(expected, abs=1e-4)
    assert by_hand(scores.tolist(), K) != pytest.approx(expected, abs=1e-2)  # the price changes the advantage


def test_a_missing_eos_is_penalised_in_the_advantage(base, monkeypatch, tmp_path):
    batch, config, calls = captured_round(base, monkeypatch, tmp_path, missing_eos_penalty=PENALTY,
                                          max_new_tokens=40, beta=0.01)
    mask = batch.response_mask.float()
    last = batch.response_ids.gather(1, mask.sum(1, keepdim=True).long() - 1).squeeze(1)
    ended = last == base.tokenizer.eos_token_id
    groups = ended.view(-1, K)
    assert (groups.any(1) & ~groups.all(1)).any()  # a group with answers that ended and answers that did not
    policy = torch.cat([c[0] for c in calls])
    with base.use("sft"):
        reference, _ = rloo.logprobs(base, batch, slice(None), config, entropy=False)
    kl = ((policy - reference) * mask).sum(1)
    rewards = count_vowels([], batch.texts) + PENALTY * (~ended).float() - 0.01 * kl
    assert torch.cat([c[1] for c in calls]).tolist() == pytest.approx(by_hand(rewards.tolist(), K), abs=1e-4)
