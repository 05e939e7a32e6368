"""RLOO end to end on the tiny random model: it learns a programmatic reward, cancels, resumes exactly, stops on NaN."""
import math

import pytest
import torch

from studio.training.checkpoints import checkpoint_step, has_checkpoint
from studio.training.configs import config_help, validate
from studio.training.online_configs import RLOOConfig
from studio.training.engine import Hooks
from studio.training.online_policy import POLICY
from studio.training.rloo import train_rloo
from tests.training.helpers import tiny_base
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels, recorder


def fast(**overrides) -> RLOOConfig:
    """Short responses and a learning rate a random 2-layer model can move with in a few rounds."""
    settings = dict(iterations=12, batch_size=4, samples_per_prompt=4, max_new_tokens=16, lr=5e-3,
                    checkpoint_every=100)
    return RLOOConfig(**{**settings, **overrides})


def test_rloo_raises_a_programmatic_reward(base, tmp_path):
    hooks, metrics, samples, progress = recorder()
    result = train_rloo(base, PROMPTS, count_vowels, fast(), tmp_path, hooks, init_adapter=None)
    assert result.status == "finished" and result.step == 12
    rewards = [m["reward"] for _, m in metrics]
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 1.0  # vowels per response
    assert metrics[0][1]["kl"] == pytest.approx(0.0, abs=1e-5)  # a fresh LoRA starts as the reference
    for name in ["reward", "rlhf_reward", "kl", "beta", "policy_loss", "entropy", "clip_frac", "grad_norm",
                 "response_length", "eos_fraction", "samples_per_s", "iteration_s"]:
        assert all(math.isfinite(m[name]) for _, m in metrics), name
    distinct = [m["distinct_2"] for _, m in metrics if "distinct_2" in m]  # what the hacking monitor watches
    assert distinct and all(0 < d <= 1 for d in distinct)
    assert all(m["clip_frac"] == 0 for _, m in metrics)  # one pass: the ratio is exactly 1
    assert [s for s, _ in metrics] == list(range(1, 13)) and progress[-1] == (12, 12)
    assert all(len(rows) == 4 and set(rows[0]) == {"prompt", "response", "reward"} for _, rows in samples)
    assert all(r["reward"] == count_vowels([], [r["response"]]).item() for _, rows in samples for r in rows)
    assert (result.artifact / "adapter_model.safetensors").exists()


def test_kl_is_measured_against_the_sft_reference_and_priced_in_the_reward(base, tmp_path):
    add_random_sft(base)
    sft_before = [p.detach().clone() for p in base.adapter_parameters("sft")]
    hooks, metrics, _, _ = recorder()
    train_rloo(base, PROMPTS, count_vowels, fast(iterations=4, beta=0.5, epochs=2), tmp_path, hooks,
               init_adapter="sft")
    assert metrics[0][1]["kl"] == pytest.approx(0.0, abs=1e-4)  # the policy starts as an exact copy of sft
    assert metrics[-1][1]["kl"] > 0.01
    for _, m in metrics:
        assert m["rlhf_reward"] == pytest.approx(m["reward"] - 0.5 * m["kl"], abs=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(sft_before, base.adapter_parameters("sft")))
    assert any(m["clip_frac"] > 0 for _, m in metrics)  # the second pass's ratio moved and was clipped


def test_prompts_per_pass_changes_memory_not_results(tiny_model_dir, tmp_path):
    runs = []
    for per_pass in (1, 4):
        torch.set_num_threads(1)
        hooks, metrics, _, _ = recorder()
        train_rloo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, fast(iterations=3, prompts_per_pass=per_pass),
                   tmp_path / str(per_pass), hooks, init_adapter=None)
        runs.append(metrics)
    for (_, a), (_, b) in zip(*runs):
        assert a["reward"] == b["reward"]  # same samples: the updates matched
        assert a["kl"] == pytest.approx(b["kl"], abs=1e-4) and a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-3)


def test_stop_during_the_first_pass_leaves_the_round_unapplied(base, tmp_path):
    said: list[str] = []
    snapshot: list[torch.Tensor] = []

    def should_stop() -> bool:  # round 2, its third pass (4 prompts -> 4 passes): two groups' gradients are summed
        return bool(snapshot) and "policy update, pass 1 of 1, batch 3 of 4" in said[-1]

    def on_metrics(step, values):
        snapshot.extend(p.detach().clone() for p in base.adapter_parameters(POLICY))

    result = train_rloo(base, PROMPTS, count_vowels, fast(iterations=5), tmp_path,
                        Hooks(on_metrics=on_metrics, should_stop=should_stop, on_message=said.append),
                        init_adapter=None)
    assert result.status == "cancelled" and result.step == 1 and result.artifact is None
    assert all(torch.equal(a, b) for a, b in zip(snapshot, base.adapter_parameters(POLICY)))
    assert has_checkpoint(tmp_path) and checkpoint_step(tmp_path) == 1


def test_cancel_before_the_first_round_scores_nothing(base, tmp_path):
    calls = []
    result = train_rloo(base, PROMPTS, lambda p, r: calls.append(r) or count_vowels(p, r), fast(), tmp_path,
                        Hooks(should_stop=lambda: True), init_adapter=None)
    assert result.status == "cancelled" and result.step == 0 and not calls


@pytest.mark.parametrize("stop_at", ["before round 2", "policy update, pass 1 of 1, batch 3 of 4"])
def test_a_stopped_run_resumes_to_the_same_rounds_as_an_uninterrupted_one(tiny_model_dir, tmp_path, stop_at):
    torch.set_num_threads(1)
    done, said = [], [""]
    first = train_rloo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, fast(iterations=4), tmp_path / "run",
                       Hooks(on_metrics=lambda s, m: done.append(s), on_message=said.append,
                             should_stop=lambda: bool(done) and (stop_at == "before round 2" or stop_at in said[-1])),
                       init_adapter=None)
    assert first.status == "cancelled" and first.step == 1
    fresh = tiny_base(tiny_model_dir)  # a new process: the model loaded again
    hooks, resumed, _, _ = recorder()
    second = train_rloo(fresh, PROMPTS, count_vowels, fast(iterations=4), tmp_path / "run", hooks, resume=True,
                        init_adapter=None)
    assert second.status == "finished" and second.step == 4 and resumed[0][0] == first.step + 1

    hooks, straight, _, _ = recorder()
    train_rloo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, fast(iterations=4), tmp_path / "straight", hooks,
               init_adapter=None)
    for (step, a), (step_b, b) in zip(resumed, straight[first.step:]):
        assert step == step_b and a["reward"] == b["reward"]  # same prompts and samples
        assert a["kl"] == pytest.approx(b["kl"], abs=1e-5) and a["policy_loss"] == pytest.approx(b["policy_loss"])
    final = [p.detach() for p in fresh.adapter_parameters(POLICY)]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(final, straight_params(tiny_model_dir, tmp_path)))


def straight_params(tiny_model_dir, tmp_path) -> list[torch.Tensor]:
    """The policy adapter an uninterrupted run saved."""
    base = tiny_base(tiny_model_dir)
    base.load_adapter(POLICY, tmp_path / "straight" / "adapter")
    return [p.detach() for p in base.adapter_parameters(POLICY)]


def test_a_nan_score_ends_the_run_as_diverged(base, tmp_path):
    result = train_rloo(base, PROMPTS, lambda p, r: torch.full((len(r),), float("nan")), fast(), tmp_path,
                        init_adapter=None)
    assert result.status == "diverged" and result.step == 0 and "scorer" in result.error


def test_a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(base, tiny_model_dir, tmp_path):
    calls = []

    def poisoning_score(prompts, responses):  # round 3: after sampling, a policy weight turns NaN
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                base.adapter_parameters(POLICY)[0].fill_(float("nan"))
        return count_vowels(prompts, responses)

    result = train_rloo(base, PROMPTS, poisoning_score, fast(iterations=6, checkpoint_every=1), tmp_path,
                        init_adapter=None)
    assert result.status == "diverged" and result.step == 2 and "loss became nan at step 3" in result.error
    assert checkpoint_step(tmp_path) == 2 and result.artifact is None
    fresh = tiny_base(tiny_model_dir)
    train_rloo(fresh, PROMPTS, count_vowels, fast(iterations=2), tmp_path, resume=True, init_adapter=None)
    assert all(torch.isfinite(p).all() for p in fresh.adapter_parameters(POLICY))  # the checkpoint is clean


def test_settings_are_checked_and_documented():
    assert all(config_help(RLOOConfig).values())
    with pytest.raises(ValueError, match="samples_per_prompt must be at least 2"):
        validate(RLOOConfig(samples_per_prompt=1))
    with pytest.raises(ValueError, match="prompts_per_pass must be at least 1"):
        validate(RLOOConfig(prompts_per_pass=0))
    with pytest.raises(ValueError, match="beta must be above 0"):
        validate(RLOOConfig(beta=0))

