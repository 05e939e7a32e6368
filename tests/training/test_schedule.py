"""Supervised runs are as long as the data: epochs by default, --steps as an override, intervals that scale."""
from __future__ import annotations

from studio.training.configs import DPOConfig, RewardConfig, SFTConfig, epochs_for
from studio.training.engine import Hooks, schedule
from studio.training.reward import train_reward
from tests.training.helpers import marker_pairs


def test_steps_follow_the_epochs_and_the_data():
    assert schedule(RewardConfig(epochs=2, batch_size=4), 54) == (27, 5, 7)  # ceil(2 * 54 / 4); 5 evals, 4 saves
    assert schedule(SFTConfig(epochs=10, batch_size=4), 9) == (23, 5, 6)
    assert schedule(DPOConfig(epochs=1, batch_size=8), 3) == (1, 1, 1)
    assert schedule(SFTConfig(steps=7, eval_every=2, checkpoint_every=3), 1000) == (7, 2, 3)  # explicit settings win
    assert [c().steps for c in (SFTConfig, RewardConfig, DPOConfig)] == [None, None, None]


def test_empty_epochs_follow_the_data_with_a_floor_of_25_steps():
    """Empty epochs: the usual passes for a large set; a small one gets more (up to a most), about 25 steps."""
    assert [c().epochs for c in (SFTConfig, RewardConfig, DPOConfig)] == [None, None, None]
    assert schedule(RewardConfig(), 54)[0] == 27  # 25 x 4 / 54 = 1.85 passes < the usual 2: ceil(2 x 54 / 4)
    assert schedule(RewardConfig(), 17)[0] == 25  # 25 x 4 / 17 = 5.88 passes: exactly 25 steps
    assert epochs_for(RewardConfig(), 17) == 100 / 17
    assert schedule(RewardConfig(), 6)[0] == 12  # 16.7 passes capped at 8: ceil(8 x 6 / 4)
    assert schedule(SFTConfig(), 9)[0] == 23  # 11.1 passes capped at 10: ceil(10 x 9 / 4)
    assert schedule(SFTConfig(), 400)[0] == 300  # the usual 3 passes for hundreds: 3 x 400 / 4
    assert schedule(DPOConfig(batch_size=8), 1000)[0] == 250  # 2 x 1000 / 8
    assert schedule(RewardConfig(batch_size=2), 17)[0] == 25  # the floor is in steps: 25 x 2 / 17 passes
    assert epochs_for(RewardConfig(epochs=1.5), 17) == 1.5  # a set value is kept


def test_a_default_run_makes_the_steps_its_epochs_need(base, tmp_path):
    progress = []
    config = RewardConfig(batch_size=4, max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    result = train_reward(base, marker_pairs(4), config, tmp_path, Hooks(on_progress=lambda s, n: progress.append(n)))
    assert result.status == "finished" and result.step == 8 and set(progress) == {8}  # 25 x 4 / 4 > 8: ceil(8 x 4 / 4)
