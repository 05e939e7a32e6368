"""GRPO end to end on the tiny random model: it learns a programmatic reward, cancels, resumes exactly, stops on NaN,
and refuses bad settings."""
import math

import pytest
import torch

from studio.training.checkpoints import checkpoint_step, has_checkpoint
from studio.training.configs import config_help, validate
from studio.training.online_configs import GRPOConfig
from studio.training.engine import Hooks
from studio.training.grpo import train_grpo
from studio.training.online_policy import POLICY
from tests.training.helpers import tiny_base
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels, recorder
from tests.training.test_rloo import straight_params


def fast(**overrides) -> GRPOConfig:
    """Short responses and a learning rate a random 2-layer model can move with in a few rounds."""
    settings = dict(iterations=12, batch_size=4, samples_per_prompt=4, max_new_tokens=16, lr=5e-3,
                    checkpoint_every=100)
    return GRPOConfig(**{**settings, **overrides})


def test_grpo_raises_a_programmatic_reward(base, tmp_path):
    hooks, metrics, samples, progress = recorder()
    result = train_grpo(base, PROMPTS, count_vowels, fast(), tmp_path, hooks, init_adapter=None)
    assert result.status == "finished" and result.step == 12
    rewards = [m["reward"] for _, m in metrics]
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 1.0  # vowels per response
    for name in ["reward", "reward/reward_model", "reward_std", "frac_reward_zero_std", "beta", "entropy",
                 "clip_frac_low", "clip_frac_high", "policy_loss", "grad_norm", "response_length", "eos_fraction",
                 "samples_per_s", "iteration_s", "logprob_mismatch"]:
        assert all(math.isfinite(m[name]) for _, m in metrics), name
    assert all("kl" not in m for _, m in metrics)  # beta 0: no reference, no KL
    assert all(m["reward/reward_model"] == m["reward"] for _, m in metrics)  # one term: the reward model's
    assert all(m["clip_frac_low"] == m["clip_frac_high"] == 0 for _, m in metrics)  # one pass: ratio exactly 1
    assert [s for s, _ in metrics] == list(range(1, 13)) and progress[-1] == (12, 12)
    assert all(len(rows) == 4 and set(rows[0]) == {"prompt", "response", "reward"} for _, rows in samples)
    assert (result.artifact / "adapter_model.safetensors").exists()


def test_the_kl_to_the_sft_reference_is_measured_when_beta_is_set(base, tmp_path):
    add_random_sft(base)
    sft_before = [p.detach().clone() for p in base.adapter_parameters("sft")]
    hooks, metrics, _, _ = recorder()
    train_grpo(base, PROMPTS, count_vowels, fast(iterations=4, beta=0.1, epochs=2, epsilon_high=0.28,
                                                 missing_eos_penalty=-1.0), tmp_path, hooks, init_adapter="sft")
    assert metrics[0][1]["kl"] == pytest.approx(0.0, abs=1e-4)  # the policy starts as an exact copy of sft
    assert metrics[-1][1]["kl"] > 0.001
    for _, m in metrics:
        assert m["reward"] == pytest.approx(m["reward/reward_model"] + m["reward/missing_eos"], abs=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(sft_before, base.adapter_parameters("sft")))
    assert any(m["clip_frac_low"] + m["clip_frac_high"] > 0 for _, m in metrics)  # the second pass clipped


def test_stop_during_the_first_pass_leaves_the_round_unapplied(base, tmp_path):
    said: list[str] = []
    snapshot: list[torch.Tensor] = []

    def should_stop() -> bool:  # round 2, its third pass (4 prompts -> 4 passes): two groups' gradients are summed
        return bool(snapshot) and "policy update, pass 1 of 1, batch 3 of 4" in said[-1]

    def on_metrics(step, values):
        snapshot.extend(p.detach().clone() for p in base.adapter_parameters(POLICY))

    result = train_grpo(base, PROMPTS, count_vowels, fast(iterations=5), tmp_path,
                        Hooks(on_metrics=on_metrics, should_stop=should_stop, on_message=said.append),
                        init_adapter=None)
    assert result.status == "cancelled" and result.step == 1 and result.artifact is None
    assert all(torch.equal(a, b) for a, b in zip(snapshot, base.adapter_parameters(POLICY)))
    assert has_checkpoint(tmp_path) and checkpoint_step(tmp_path) == 1


def test_a_stopped_run_resumes_to_the_same_rounds_as_an_uninterrupted_one(tiny_model_dir, tmp_path):
    torch.set_num_threads(1)
    done = []
    config = fast(iterations=3, beta=0.05)
    first = train_grpo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, config, tmp_path / "run",
                       Hooks(on_metrics=lambda s, m: done.append(s), should_stop=lambda: bool(done)),
                       init_adapter=None)  # before round 2
    assert first.status == "cancelled" and first.step == 1
    fresh = tiny_base(tiny_model_dir)  # a new process: the model loaded again
    hooks, resumed, _, _ = recorder()
    second = train_grpo(fresh, PROMPTS, count_vowels, config, tmp_path / "run", hooks, resume=True,
                        init_adapter=None)
    assert second.status == "finished" and second.step == 3 and resumed[0][0] == 2
    hooks, straight, _, _ = recorder()
    train_grpo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, config, tmp_path / "straight", hooks,
               init_adapter=None)
    for (step, a), (step_b, b) in zip(resumed, straight[1:]):
        assert step == step_b and a["reward"] == b["reward"]  # same prompts and samples
        assert a["kl"] == pytest.approx(b["kl"], abs=1e-5) and a["policy_loss"] == pytest.approx(b["policy_loss"])
    final = [p.detach() for p in fresh.adapter_parameters(POLICY)]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(final, straight_params(tiny_model_dir, tmp_path)))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(base, tmp_path):
    calls = []

    def poisoning_score(prompts, responses):  # round 3: after sampling, a policy weight turns NaN
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                base.adapter_parameters(POLICY)[0].fill_(float("nan"))
        return count_vowels(prompts, responses)

    result = train_grpo(base, PROMPTS, poisoning_score, fast(iterations=6, checkpoint_every=1), tmp_path,
                        init_adapter=None)
    assert result.status == "diverged" and result.step == 2 and "loss became nan at step 3" in result.error
    assert checkpoint_step(tmp_path) == 2 and result.artifact is None


def test_settings_are_checked_and_documented():
    assert all(config_help(GRPOConfig).values())
    validate(GRPOConfig())  # beta 0 is TRL's default
    for bad, message in [({"samples_per_prompt": 1}, "samples_per_prompt must be at least 2"),
                         ({"beta": -0.1}, "beta must be 0 or more"), ({"epsilon": -0.1}, "epsilon must be 0 or more"),
                         ({"epsilon_high": -1.0}, "epsilon_high must be 0 or more"),
                         ({"loss_type": "bnpo"}, "loss_type must be one of dapo, grpo, dr_grpo"),
                         ({"scale_rewards": "std"}, "scale_rewards must be one of group, batch, none")]:
        with pytest.raises(ValueError, match=message):
            validate(GRPOConfig(**bad))
    assert GRPOConfig(epsilon=0.2).clip_high == 0.2 and GRPOConfig(epsilon_high=0.28).clip_high == 0.28
