"""Supervised runs are as long as the data: epochs by default, --steps as an override, intervals that scale."""
from __future__ import annotations

from studio.training.configs import DPOConfig, RewardConfig, SFTConfig
from studio.training.engine import Hooks, schedule
from studio.training.reward import train_reward
from tests.training.helpers import marker_pairs


def test_steps_follow_the_epochs_and_the_data():
    assert schedule(RewardConfig(epochs=2, batch_size=4), 54) == (27, 5, 7)  # ceil(2 * 54 / 4); 5 evals, 4 saves
    assert schedule(SFTConfig(epochs=10, batch_size=4), 9) == (23, 5, 6)
    assert schedule(DPOConfig(epochs=1, batch_size=8), 3) == (1, 1, 1)
    assert schedule(SFTConfig(steps=7, eval_every=2, checkpoint_every=3), 1000) == (7, 2, 3)  # explicit settings win
    assert [c().steps for c in (SFTConfig, RewardConfig, DPOConfig)] == [None, None, None]


def test_a_default_run_makes_the_steps_its_epochs_need(base, tmp_path):
    progress = []
    config = RewardConfig(epochs=2, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    result = train_reward(base, marker_pairs(10), config, tmp_path, Hooks(on_progress=lambda s, n: progress.append(n)))
    assert result.status == "finished" and result.step == 5 and set(progress) == {5}  # ceil(2 * 10 / 4)
