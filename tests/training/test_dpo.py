import json
import math

import pytest
import torch

from studio.training import dpo
from studio.training.batches import encode_pairs, pair_batch
from studio.training.checkpoints import checkpoint_dir
from studio.training.dpo import DPOConfig, train_dpo
from studio.training.engine import Hooks
from studio.training.preference_losses import dpo_loss
from studio.training.response_logprobs import sequence_logprobs
from studio.training.sft import SFTConfig, train_sft
from tests.training.helpers import marker_pairs


def small_config(**kw) -> DPOConfig:
    return DPOConfig(**{"steps": 6, "batch_size": 4, "max_length": 48, "lora_r": 4, "lora_alpha": 8,
                        "warmup_steps": 1, "eval_every": 100, "checkpoint_every": 2, **kw})


def test_sequence_logprobs_sums_response_tokens_only(base):
    pairs = marker_pairs(2)
    ids, mask, labels = pair_batch(base, encode_pairs(base.tokenizer, pairs, 48), [0, 1])
    logits = base.model(input_ids=ids, attention_mask=mask).logits[:, :-1].log_softmax(-1)
    targets = labels[:, 1:]
    picked = logits.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (targets != -100)
    assert torch.allclose(sequence_logprobs(base, ids, mask, labels), picked.sum(-1), atol=1e-4)


def test_dpo_from_base_learns_the_preference(base, tmp_path):
    seen = []
    config = small_config(steps=20, lr=1e-3, eval_fraction=0.25, eval_every=10)
    result = train_dpo(base, marker_pairs(60), config, tmp_path, Hooks(on_metrics=lambda step, m: seen.append(m)),
                       init_adapter=None)
    assert result.status == "finished" and (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert seen[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)  # the policy starts equal to the reference
    assert {"reward_accuracy", "chosen_reward", "rejected_reward", "margin", "eval_loss", "eval_reward_accuracy",
            "eval_margin"} <= set(result.metrics)
    assert result.metrics["eval_reward_accuracy"] >= 0.9
    assert result.metrics["eval_loss"] < 0.5 * math.log(2)


def test_dpo_starts_from_a_copy_of_sft_and_uses_it_as_reference(base, tmp_path):
    demos = [{"prompt": p["prompt"], "response": p["chosen"]} for p in marker_pairs(8)]
    train_sft(base, demos, SFTConfig(steps=3, lr=1e-2, warmup_steps=0, max_length=48, lora_r=4), tmp_path / "sft")
    seen = []
    train_dpo(base, marker_pairs(8), small_config(steps=2), tmp_path / "dpo",
              Hooks(on_metrics=lambda step, m: seen.append(m)))
    assert seen[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert {"sft", "dpo"} <= set(base.adapters())


def test_cancel_then_resume_matches_uninterrupted_run(base, tmp_path):
    pairs, config = marker_pairs(20), small_config(lr=1e-3)
    steps = []
    hooks = Hooks(on_metrics=lambda step, m: steps.append(step), should_stop=lambda: len(steps) >= 3)
    cancelled = train_dpo(base, pairs, config, tmp_path / "a", hooks, init_adapter=None)
    assert (cancelled.status, cancelled.step) == ("cancelled", 3)
    resumed = train_dpo(base, pairs, config, tmp_path / "a", resume=True, init_adapter=None)
    straight = train_dpo(base, pairs, config, tmp_path / "b", init_adapter=None)
    assert resumed.status == straight.status == "finished"
    assert resumed.step == straight.step == config.steps
    assert resumed.metrics["loss"] == pytest.approx(straight.metrics["loss"], rel=1e-4)


def test_nan_loss_stops_as_diverged_keeping_last_checkpoint(base, tmp_path, monkeypatch):
    real, calls = dpo.dpo_loss, []

    def poisoned(*args, **kw):
        calls.append(1)
        loss, chosen, rejected = real(*args, **kw)
        return (loss * float("nan") if len(calls) == 5 else loss), chosen, rejected

    monkeypatch.setattr(dpo, "dpo_loss", poisoned)
    config = small_config(eval_fraction=0.0, checkpoint_every=3)
    result = train_dpo(base, marker_pairs(20), config, tmp_path, init_adapter=None)
    assert (result.status, result.step, result.artifact) == ("diverged", 4, None)
    assert "nan" in result.error
    assert json.loads((checkpoint_dir(tmp_path) / "meta.json").read_text())["step"] == 3
    assert not (tmp_path / "adapter").exists()


def test_every_phase_says_what_it_does(base, tmp_path):
    """The reference scoring before step 1 and the saving after the last step are not silent."""
    events = []
    hooks = Hooks(on_message=lambda text: events.append(text), on_progress=lambda step, total: events.append(step))
    train_dpo(base, marker_pairs(8), small_config(steps=2, batch_size=4), tmp_path / "dpo", hooks, init_adapter=None)
    assert events[:2] == ["Scoring the pairs with the reference model: batch 1 of 2…",
                          "Scoring the pairs with the reference model: batch 2 of 2…"]
    assert events[-1] == "Saving the checkpoint and the adapter…" and events[-2] == 2
