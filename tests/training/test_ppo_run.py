"""PPO's wiring: adaptive beta that moves, the reward model's score scale, exact resume after Stop,
no weight decay, and the NaN loss and NaN gradient stops."""
from __future__ import annotations

import pytest
import torch

from studio.training import ppo
from studio.training.checkpoints import checkpoint_step
from studio.training.engine import Hooks
from studio.training.ppo import PPOConfig, kl_horizon, train_ppo
from tests.training.helpers import tiny_base
from tests.training.test_ppo import PROMPTS, count_vowels, fast, recorder


def test_the_default_horizon_is_one_round_and_beta_moves_by_the_controllers_rule(base, tmp_path):
    config = fast(iterations=5, batch_size=4, target_kl=1000.0)  # KL far below target: beta shrinks every round
    assert PPOConfig().kl_horizon is None and kl_horizon(config) == 4
    hooks, metrics, _, _ = recorder()
    train_ppo(base, PROMPTS, count_vowels, config, tmp_path, hooks, init_adapter=None)
    step = 1 - 0.2 * 4 / 4  # beta *= 1 + clip(kl / target - 1, -0.2, 0.2) * responses / horizon, >= half its start
    assert [m["beta"] for _, m in metrics] == pytest.approx([max(0.05 * step ** i, 0.025) for i in range(5)])
    assert metrics[-1][1]["beta"] == 0.025


def test_scores_are_normalised_by_the_given_reward_model_statistics(base, tmp_path):
    hooks, metrics, _, _ = recorder()
    train_ppo(base, PROMPTS, count_vowels, fast(iterations=2), tmp_path, hooks, init_adapter=None,
              score_norm=(2.0, 0.5))
    assert all(m["reward"] == pytest.approx((m["reward_raw"] - 2.0) / 0.5) for _, m in metrics)


def test_a_run_stopped_mid_round_resumes_exactly_like_an_uninterrupted_one(tiny_model_dir, tmp_path):
    config = fast(iterations=4, batch_size=4, minibatches=2, ppo_epochs=2)  # no periodic checkpoint
    said = [""]

    def stop_in_round_three() -> bool:  # round 3, after minibatch 1's update: Stop at minibatch 2
        return "Round 3: updating the policy, epoch 1 of 2, minibatch 2 of 2" in said[-1]

    first = train_ppo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, config, tmp_path / "run",
                      Hooks(should_stop=stop_in_round_three, on_message=said.append), init_adapter=None)
    assert first.status == "cancelled" and checkpoint_step(tmp_path / "run") == 2
    hooks, resumed, _, _ = recorder()
    train_ppo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, config, tmp_path / "run", hooks, resume=True,
              init_adapter=None)
    hooks, straight, _, _ = recorder()
    train_ppo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, config, tmp_path / "straight", hooks,
              init_adapter=None)
    assert [s for s, _ in resumed] == [3, 4]
    for (_, a), (_, b) in zip(resumed, straight[2:]):
        for key in ("reward_raw", "kl", "beta", "policy_loss", "value_loss", "approx_kl"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def test_the_optimizer_has_no_weight_decay(base, tmp_path, monkeypatch):
    made = []

    class RecordingAdamW(torch.optim.AdamW):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    train_ppo(base, PROMPTS, count_vowels, fast(iterations=1), tmp_path, init_adapter=None)
    assert [group["weight_decay"] for group in made[0].param_groups] == [0.0]


@pytest.mark.parametrize("fault", ["nan_loss", "nan_gradient"])
def test_a_nan_in_round_two_stops_as_diverged_keeping_round_one(base, tmp_path, monkeypatch, fault):
    rounds = []
    plain_value_loss = ppo.value_loss

    def faulty_value_loss(new_values, *args):
        loss = plain_value_loss(new_values, *args)
        if len(rounds) < 1:
            return loss
        if fault == "nan_loss":
            return loss * float("nan")
        return loss + torch.sqrt(new_values.sum() * 0)  # finite (0) loss whose gradient is 0 * inf = NaN

    monkeypatch.setattr(ppo, "value_loss", faulty_value_loss)
    result = train_ppo(base, PROMPTS, count_vowels, fast(iterations=3, checkpoint_every=1), tmp_path,
                       Hooks(on_metrics=lambda s, m: rounds.append(s)), init_adapter=None)
    assert result.status == "diverged" and result.step == 1 and rounds == [1]
    assert ("loss became nan" if fault == "nan_loss" else "gradient became nan") in result.error
    assert checkpoint_step(tmp_path) == 1 and result.artifact is None
