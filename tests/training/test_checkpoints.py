"""Checkpoints survive a kill at any point of a save, for every engine: resume starts from the newest complete one."""
from __future__ import annotations

import json
import shutil

import pytest

from studio.training.checkpoints import checkpoint_dir, checkpoint_step, has_checkpoint
from studio.training.dpo import DPOConfig, train_dpo
from studio.training.engine import Hooks
from studio.training.ppo import PPOConfig, train_ppo
from studio.training.reward import RewardConfig, train_reward
from studio.training.sft import SFTConfig, train_sft
from tests.training.helpers import marker_pairs, tiny_base
from tests.training.test_ppo import PROMPTS, count_vowels

SMALL = dict(steps=4, batch_size=2, max_length=48, lora_r=4, lora_alpha=8, warmup_steps=0, checkpoint_every=1)
DEMOS = [{"prompt": "hi", "response": "hello there"}, {"prompt": "2+2?", "response": "four"}]
ENGINES = {
    "sft": lambda base, d, hooks, resume: train_sft(base, DEMOS, SFTConfig(**SMALL), d, hooks, resume),
    "reward": lambda base, d, hooks, resume: train_reward(base, marker_pairs(8), RewardConfig(**SMALL), d, hooks,
                                                          resume),
    "dpo": lambda base, d, hooks, resume: train_dpo(base, marker_pairs(8), DPOConfig(**SMALL), d, hooks, resume),
    "ppo": lambda base, d, hooks, resume: train_ppo(
        base, PROMPTS, count_vowels, PPOConfig(iterations=4, batch_size=2, minibatches=1, ppo_epochs=1,
                                               max_new_tokens=6, checkpoint_every=1), d, hooks, resume,
        init_adapter=None),
}


def stopped_after_two(engine, tiny_model_dir, run_dir) -> None:
    steps: list[int] = []
    hooks = Hooks(on_metrics=lambda s, m: steps.append(s), should_stop=lambda: len(steps) >= 2)
    assert ENGINES[engine](tiny_base(tiny_model_dir), run_dir, hooks, False).status == "cancelled"
    assert checkpoint_step(run_dir) == 2


def resumed_steps(engine, tiny_model_dir, run_dir) -> list[int]:
    steps: list[int] = []
    result = ENGINES[engine](tiny_base(tiny_model_dir), run_dir, Hooks(on_metrics=lambda s, m: steps.append(s)), True)
    assert result.status == "finished" and result.step == 4
    return steps


@pytest.mark.parametrize("engine", ENGINES)
def test_a_kill_while_writing_the_new_checkpoint_keeps_the_previous_one(engine, tiny_model_dir, tmp_path):
    stopped_after_two(engine, tiny_model_dir, tmp_path)
    torn = checkpoint_dir(tmp_path).with_name("checkpoint.tmp")
    shutil.copytree(checkpoint_dir(tmp_path) / "adapters", torn / "adapters")  # no state, no meta.json yet
    assert resumed_steps(engine, tiny_model_dir, tmp_path) == [3, 4]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_kill_between_the_two_renames_resumes_from_the_new_checkpoint(engine, tiny_model_dir, tmp_path):
    stopped_after_two(engine, tiny_model_dir, tmp_path)
    final = checkpoint_dir(tmp_path)
    old = final.with_name("checkpoint.old")
    shutil.copytree(final, old)  # the previous checkpoint, moved aside ...
    meta = json.loads((old / "meta.json").read_text())
    (old / "meta.json").write_text(json.dumps({**meta, "step": 1}))
    final.rename(final.with_name("checkpoint.tmp"))  # ... and the complete new one not yet renamed into place
    assert has_checkpoint(tmp_path) and checkpoint_step(tmp_path) == 2
    assert resumed_steps(engine, tiny_model_dir, tmp_path) == [3, 4]
    assert not final.with_name("checkpoint.tmp").exists() and not old.exists()
