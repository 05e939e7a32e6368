import pytest

from studio.training.configs import KTOConfig, validate
from studio.training.engine import Hooks
from studio.training.kto import kl_partners, train_kto
from studio.training.sft import SFTConfig, train_sft
from tests.training.helpers import marker_pairs


def rated(n: int) -> list[dict]:
    """Each marker pair unpaired, as TRL does: the banana answer rated good, the other fruit bad."""
    return [{"prompt": p["prompt"], "completion": p[side], "label": side == "chosen"}
            for p in marker_pairs(n) for side in ("chosen", "rejected")]


def small_config(**kw) -> KTOConfig:
    return KTOConfig(**{"steps": 6, "batch_size": 4, "max_length": 48, "lora_r": 4, "lora_alpha": 8,
                        "warmup_steps": 1, "eval_every": 100, "checkpoint_every": 2, **kw})


def test_kl_partners_are_the_next_answer_to_another_prompt_in_the_batch():
    assert kl_partners(["a", "b", "c", "d"]) == [1, 2, 3, 0]  # TRL's rotation by one
    assert kl_partners(["a", "a", "b", "b", "c", "a"]) == [2, 2, 4, 4, 5, 2]
    assert kl_partners(["x", "x", "x"]) == [1, 2, 0]  # one prompt only: another answer at least
    assert kl_partners(["x"]) == [0]


def test_kto_needs_a_batch_of_two_and_positive_weights():
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        validate(KTOConfig(batch_size=1))
    with pytest.raises(ValueError, match="undesirable_weight must be above 0"):
        validate(KTOConfig(undesirable_weight=0))


def test_kto_from_base_learns_the_ratings(base, tmp_path):
    seen = []
    config = small_config(steps=24, lr=1e-3, batch_size=8, eval_fraction=0.25, eval_every=12)
    result = train_kto(base, rated(40), config, tmp_path, Hooks(on_metrics=lambda step, m: seen.append(m)),
                       init_adapter=None)
    assert result.status == "finished" and (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert seen[0]["loss"] == pytest.approx(0.5, abs=1e-3)  # the policy starts equal to the reference
    assert {"kl", "chosen_reward", "rejected_reward", "margin", "eval_loss", "eval_margin"} <= set(result.metrics)
    assert result.metrics["eval_loss"] < 0.4
    assert result.metrics["eval_margin"] > 0  # held-out good answers gained likelihood over bad ones


def test_kto_starts_from_a_copy_of_sft_and_uses_it_as_reference(base, tmp_path):
    demos = [{"prompt": e["prompt"], "response": e["completion"]} for e in rated(8)]
    train_sft(base, demos, SFTConfig(steps=3, lr=1e-2, warmup_steps=0, max_length=48, lora_r=4), tmp_path / "sft")
    seen = []
    train_kto(base, rated(8), small_config(steps=2), tmp_path / "kto", Hooks(on_metrics=lambda step, m: seen.append(m)))
    assert seen[0]["loss"] == pytest.approx(0.5, abs=1e-4) and seen[0]["kl"] == 0.0
    assert {"sft", "kto"} <= set(base.adapters())


def test_cancel_then_resume_matches_uninterrupted_run(base, tmp_path):
    examples, config = rated(10), small_config(lr=1e-3)
    steps = []
    hooks = Hooks(on_metrics=lambda step, m: steps.append(step), should_stop=lambda: len(steps) >= 3)
    cancelled = train_kto(base, examples, config, tmp_path / "a", hooks, init_adapter=None)
    assert (cancelled.status, cancelled.step, cancelled.artifact) == ("cancelled", 3, None)
    resumed = train_kto(base, examples, config, tmp_path / "a", resume=True, init_adapter=None)
    straight = train_kto(base, examples, config, tmp_path / "b", init_adapter=None)
    assert resumed.status == straight.status == "finished"
    assert resumed.step == straight.step == config.steps
    assert resumed.metrics["loss"] == pytest.approx(straight.metrics["loss"], rel=1e-4)
    assert resumed.metrics["kl"] == pytest.approx(straight.metrics["kl"], rel=1e-4, abs=1e-7)


def test_examples_without_a_label_are_refused(base, tmp_path):
    with pytest.raises(ValueError, match="at least one rated answer"):
        train_kto(base, [], small_config(), tmp_path)
    with pytest.raises(ValueError, match="True .good. or False"):
        train_kto(base, [{"prompt": "p", "completion": "c", "label": 1}], small_config(), tmp_path)
