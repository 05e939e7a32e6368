"""Every engine with eval figures records what they rest on, eval_size of data_size (issue 10, item 7)."""
import pytest

from studio.training.configs import DPOConfig, KTOConfig, RewardConfig, SFTConfig
from studio.training.dpo import train_dpo
from studio.training.engine import Hooks
from studio.training.kto import train_kto
from studio.training.reward import train_reward
from studio.training.sft import train_sft
from tests.training.helpers import marker_pairs

TINY = {"steps": 3, "batch_size": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8, "warmup_steps": 1,
        "eval_every": 2, "checkpoint_every": 100, "eval_fraction": 0.1}


def data(kind: str, prompts: int) -> list[dict]:
    """Two pairs (or four rated answers) per prompt, or one demonstration per prompt."""
    pairs = marker_pairs(prompts) + marker_pairs(prompts, seed=1)  # the i-th prompt is the same in both
    if kind == "sft":
        return [{"prompt": p["prompt"], "response": p["chosen"]} for p in pairs[:prompts]]
    if kind == "kto":
        return [{"prompt": p["prompt"], "completion": p[side], "label": side == "chosen"}
                for p in pairs for side in ("chosen", "rejected")]
    return pairs


ENGINES = {"sft": (train_sft, SFTConfig), "reward": (train_reward, RewardConfig), "dpo": (train_dpo, DPOConfig),
           "kto": (train_kto, KTOConfig)}


@pytest.mark.parametrize("kind", ENGINES)
def test_eval_metrics_carry_the_held_out_size(base, tmp_path, kind):
    """12 prompts (or demonstrations) at eval fraction 0.1 hold out int(1.2) = 1, beside every eval figure."""
    train, config = ENGINES[kind]
    rows: dict[int, dict] = {}
    hooks = Hooks(on_metrics=lambda step, values: rows.setdefault(step, {}).update(values))
    result = train(base, data(kind, 12), config(**TINY), tmp_path, hooks)
    assert result.status == "finished"
    assert [step for step, values in rows.items() if "eval_loss" in values] == [2, 3]
    for step, values in rows.items():
        sizes = {name: values.get(name) for name in ("eval_size", "data_size")}
        assert sizes == ({"eval_size": 1, "data_size": 12} if step in (2, 3) else {"eval_size": None,
                                                                                    "data_size": None})
    assert (result.metrics["eval_size"], result.metrics["data_size"]) == (1, 12)


def test_a_run_too_small_to_hold_out_records_none_held_out(base, tmp_path):
    """Below 10 prompts nothing is held out: no eval figures, and the last step says 0 of 6."""
    result = train_reward(base, data("reward", 6), RewardConfig(**TINY), tmp_path)
    assert "eval_accuracy" not in result.metrics
    assert (result.metrics["eval_size"], result.metrics["data_size"]) == (0, 6)
