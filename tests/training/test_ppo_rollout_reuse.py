"""The rollout's old log-probs and values come from generation's hidden states; they equal a separate forward's,
and a PPO run gives the same figures as with the separate forward (the path before this change)."""
from __future__ import annotations

import pytest
import torch

from studio.training import ppo
from studio.training.online_configs import PPOConfig
from studio.training.online_policy import POLICY, start_policy
from studio.training.ppo import forward, rollout, train_ppo
from studio.training.heads import ScalarHead
from tests.training.helpers import tiny_base
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels, fast, recorder


def separate_forward(monkeypatch) -> None:
    """Make `rollout` run its own policy forward, as before generation's hidden states were kept."""
    real = ppo.generate_tokens
    monkeypatch.setattr(ppo, "generate_tokens", lambda *args, keep_hidden=False, **kw: real(*args, **kw))


def test_generation_hidden_states_give_the_forward_logprobs_and_values(base):
    add_random_sft(base)
    start_policy(base, "sft", 4, 8)
    head = ScalarHead(base.hidden_size, std=0.1)
    config = PPOConfig(batch_size=3, max_new_tokens=20, temperature=0.8)
    prompts = ["hi", "write me a long poem about the sea", "what is 2+2?"]
    roll = rollout(base, head, prompts, "sft", config, seed=5)
    assert roll.attention[0].sum() < roll.attention[1].sum()  # left-padded prompts
    assert roll.mask.sum() > 30
    with torch.no_grad(), base.use(POLICY):
        logprobs, values, _ = forward(base, head, roll.ids, roll.attention, roll.prompt_width, 0.8)
    mask = roll.mask.bool()
    torch.testing.assert_close(roll.logprobs[mask], logprobs[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(roll.values[mask], values[mask], atol=1e-5, rtol=0)
    assert (roll.logprobs[~mask] == 0).all() and (roll.ref_logprobs[~mask] == 0).all()


def test_the_first_ratio_is_one_and_a_run_matches_the_separate_forward(tiny_model_dir, tmp_path, monkeypatch):
    log_ratios = []
    real_loss = ppo.policy_loss

    def recording_loss(new, old, advantages, mask, clip):
        log_ratios.append(((new - old) * mask).abs().max().item())
        return real_loss(new, old, advantages, mask, clip)

    monkeypatch.setattr(ppo, "policy_loss", recording_loss)
    runs, first_calls = [], []
    for reuse in (True, False):
        first_calls.append(len(log_ratios))
        if not reuse:
            separate_forward(monkeypatch)
        torch.set_num_threads(1)
        base = tiny_base(tiny_model_dir)
        torch.manual_seed(0)  # the sft adapter's lora_A is drawn from the global generator
        add_random_sft(base)
        hooks, metrics, _, _ = recorder()
        train_ppo(base, PROMPTS, count_vowels, fast(iterations=3, ppo_epochs=2), tmp_path / str(reuse), hooks)
        runs.append([m for _, m in metrics])
    assert all(log_ratios[i] < 1e-5 for i in first_calls)  # each run's first minibatch: ratio 1 (float rounding)
    assert max(log_ratios) > 1e-3  # later minibatches see an updated policy
    for reused, separate in zip(*runs):
        assert reused["reward_raw"] == separate["reward_raw"]  # the same samples
        for name in ("kl", "policy_loss", "value_loss", "entropy", "approx_kl", "returns", "value"):
            assert reused[name] == pytest.approx(separate[name], rel=1e-3, abs=1e-5), name
