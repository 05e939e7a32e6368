"""PPO end to end on the tiny random model: it learns a programmatic reward, cancels, resumes, keeps the base."""
import gc
import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, PreTrainedModel

from studio.training.checkpoints import checkpoint_dir, has_checkpoint
from studio.training.configs import config_help
from studio.training.engine import Hooks
from studio.training.online_policy import POLICY
from studio.training.ppo import PPOConfig, forward, train_ppo
from studio.training.shared_base import SharedBase
from tests.training.helpers import tiny_base

PROMPTS = ["hello", "write a poem", "what is 2+2?", "tell me a story", "hi there", "name a colour", "why?", "ok"]


def count_vowels(prompts: list[str], responses: list[str]) -> torch.Tensor:
    """+1 per lowercase vowel: the random char-level model writes about one per 16 tokens."""
    return torch.tensor([float(sum(r.count(v) for v in "aeiou")) for r in responses])


def fast(**overrides) -> PPOConfig:
    """Short responses and a learning rate a random 2-layer model can move with in a few rounds."""
    settings = dict(iterations=20, batch_size=8, max_new_tokens=16, lr=5e-3, checkpoint_every=100)
    return PPOConfig(**{**settings, **overrides})


def recorder() -> tuple[Hooks, list[tuple[int, dict]], list[tuple[int, list[dict]]], list[tuple[int, int]]]:
    metrics, samples, progress = [], [], []
    hooks = Hooks(on_metrics=lambda s, m: metrics.append((s, m)), on_samples=lambda s, r: samples.append((s, r)),
                  on_progress=lambda s, n: progress.append((s, n)))
    return hooks, metrics, samples, progress


def add_random_sft(base: SharedBase) -> None:
    """An "sft" adapter that really changes the model, so reference != base; the same adapter whatever ran before
    (its lora_A is drawn from the global generator when it is added)."""
    torch.manual_seed(1)
    base.add_lora("sft", r=4, alpha=8)
    with torch.no_grad():
        for name, p in base.peft.named_parameters():
            if ".sft." in name and "lora_B" in name:
                p.normal_(std=0.2)
    base.trainable.discard("sft")
    base._apply_trainable()


def test_ppo_raises_a_programmatic_reward_with_a_bounded_kl(base, tmp_path):
    hooks, metrics, samples, progress = recorder()
    result = train_ppo(base, PROMPTS, count_vowels, fast(), tmp_path, hooks, init_adapter=None)
    assert result.status == "finished" and result.step == 20
    rewards = [m["reward"] for _, m in metrics]
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 1.0  # in SFT standard deviations
    assert sum(m["reward_raw"] for _, m in metrics[-3:]) > sum(m["reward_raw"] for _, m in metrics[:3])
    kls = [m["kl"] for _, m in metrics]
    assert kls[0] == pytest.approx(0.0, abs=1e-4)  # a fresh LoRA starts as the base, which is the reference
    assert all(math.isfinite(k) and -1.0 < k < 60.0 for k in kls)  # seeds 0-9 peak at 15-33 nats
    for name in ["reward", "reward_raw", "kl", "beta", "policy_loss", "value_loss", "entropy", "clip_frac",
                 "approx_kl", "response_length", "eos_fraction", "returns", "value", "samples_per_s", "iteration_s"]:
        assert all(math.isfinite(m[name]) for _, m in metrics), name
    assert [s for s, _ in metrics] == list(range(1, 21)) and progress[-1] == (20, 20)
    assert all(len(rows) == 4 and set(rows[0]) == {"prompt", "response", "reward"} for _, rows in samples)
    assert (result.artifact / "adapter_model.safetensors").exists() and (tmp_path / "heads.safetensors").exists()


def test_cancel_stops_before_the_next_optimizer_step(base, tmp_path):
    stop = False
    snapshot: list[torch.Tensor] = []

    def score(prompts, responses):
        nonlocal stop
        stop = bool(snapshot)  # the second round asks to stop, after its rollout, before any update
        return count_vowels(prompts, responses)

    def on_metrics(step, values):
        snapshot.extend(p.detach().clone() for p in base.adapter_parameters(POLICY))

    result = train_ppo(base, PROMPTS, score, fast(iterations=5), tmp_path,
                       Hooks(on_metrics=on_metrics, should_stop=lambda: stop), init_adapter=None)
    assert result.status == "cancelled" and result.step == 1 and result.artifact is None
    assert all(torch.equal(a, b) for a, b in zip(snapshot, base.adapter_parameters(POLICY)))  # no step after stop
    assert has_checkpoint(tmp_path)


def test_cancel_before_the_first_round_scores_nothing(base, tmp_path):
    calls = []
    result = train_ppo(base, PROMPTS, lambda p, r: calls.append(r) or count_vowels(p, r), fast(), tmp_path,
                       Hooks(should_stop=lambda: True), init_adapter=None)
    assert result.status == "cancelled" and result.step == 0 and not calls


def test_a_killed_run_resumes_to_the_same_final_iteration(base, tiny_model_dir, tmp_path):
    done = []
    first = train_ppo(base, PROMPTS, count_vowels, fast(iterations=4), tmp_path / "run",
                      Hooks(on_metrics=lambda s, m: done.append(s), should_stop=lambda: len(done) >= 2),
                      init_adapter=None)
    assert first.status == "cancelled" and first.step == 2
    fresh = tiny_base(tiny_model_dir)  # a new process: the model loaded again
    hooks, metrics, _, _ = recorder()
    second = train_ppo(fresh, PROMPTS, count_vowels, fast(iterations=4), tmp_path / "run", hooks, resume=True,
                       init_adapter=None)
    assert second.status == "finished" and second.step == 4 and [s for s, _ in metrics] == [3, 4]

    hooks, straight, _, _ = recorder()
    train_ppo(tiny_base(tiny_model_dir), PROMPTS, count_vowels, fast(iterations=4), tmp_path / "straight", hooks,
              init_adapter=None)
    for (_, resumed), (_, uninterrupted) in zip(metrics, straight[2:]):  # same prompts, samples, beta and scale
        assert resumed["reward_raw"] == uninterrupted["reward_raw"]
        assert resumed["kl"] == pytest.approx(uninterrupted["kl"], abs=1e-4)


def test_reference_and_base_stay_frozen_and_the_base_exists_once(base, tmp_path):
    add_random_sft(base)
    model_size = sum(p.numel() for p in AutoModelForCausalLM.from_config(base.base.config).parameters())
    gc.collect()
    models_before = sum(isinstance(o, PreTrainedModel) for o in gc.get_objects())
    base_weights = {n: (p.data_ptr(), p.detach().clone()) for n, p in base.peft.named_parameters() if "lora_" not in n}
    sft_weights = [p.detach().clone() for p in base.adapter_parameters("sft")]
    tok = base.tokenizer
    ids = torch.tensor([tok("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello there")["input_ids"]])
    attention = torch.ones_like(ids)

    def ref_logprobs(adapter):
        with torch.no_grad(), base.use(adapter):
            return forward(base, None, ids, attention, 10, 1.0)[0]  # log-probs of the tokens after the 10th

    sft_before, base_before = ref_logprobs("sft"), ref_logprobs(None)

    def score(prompts, responses):  # a scorer that switches adapters itself, like a reward adapter would
        with base.use("sft"):
            return count_vowels(prompts, responses)

    hooks, metrics, _, _ = recorder()
    result = train_ppo(base, PROMPTS, score, fast(iterations=3), tmp_path, hooks, init_adapter="sft")
    assert result.status == "finished"
    assert metrics[0][1]["kl"] == pytest.approx(0.0, abs=1e-4)  # the policy starts as an exact copy of sft
    assert torch.equal(ref_logprobs("sft"), sft_before) and torch.equal(ref_logprobs(None), base_before)
    assert all(torch.equal(a, b) for a, b in zip(sft_weights, base.adapter_parameters("sft")))
    assert not all(torch.equal(a, b) for a, b in zip(sft_weights, base.adapter_parameters(POLICY)))

    after = {n: p for n, p in base.peft.named_parameters() if "lora_" not in n}
    assert after.keys() == base_weights.keys()
    assert all(p.data_ptr() == base_weights[n][0] and torch.equal(p, base_weights[n][1]) for n, p in after.items())
    assert sum(p.numel() for p in after.values()) == model_size  # adapters add LoRA weights, never a base copy
    assert sum(isinstance(o, PreTrainedModel) for o in gc.get_objects()) == models_before


def test_scores_are_used_raw_with_the_missing_eos_penalty_when_not_normalised(base, tmp_path):
    hooks, metrics, _, _ = recorder()
    train_ppo(base, PROMPTS, count_vowels, fast(iterations=2, missing_eos_penalty=-1.0), tmp_path, hooks,
              init_adapter=None, normalise_scores=False)
    for _, m in metrics:
        assert m["reward"] == pytest.approx(m["reward_raw"] - (1 - m["eos_fraction"]))


def test_a_non_finite_score_ends_the_run_as_diverged(base, tmp_path):
    result = train_ppo(base, PROMPTS, lambda p, r: torch.full((len(r),), float("nan")), fast(), tmp_path,
                       init_adapter=None)
    assert result.status == "diverged" and result.step == 0 and "scorer" in result.error


def test_checkpoint_keeps_beta_and_the_score_scale(base, tmp_path):
    train_ppo(base, PROMPTS, count_vowels, fast(iterations=2), tmp_path, init_adapter=None)
    meta = json.loads((checkpoint_dir(tmp_path) / "meta.json").read_text())
    assert meta["step"] == 2 and meta["extra"]["beta"] > 0
    assert len(meta["extra"]["score_norm"]) == 2 and meta["extra"]["score_norm"][1] > 0  # (mean, std)


def test_every_setting_has_help_for_the_gui():
    assert all(config_help(PPOConfig).values())
