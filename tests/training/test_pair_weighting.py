"""InstructGPT weighting survives batching: every ranking counts the same, whatever K and the batch size."""
from __future__ import annotations

import pytest
import torch

from studio.core.preferences import pairs_from_ranking
from studio.training import preference_losses, reward
from studio.training.batches import pair_weights
from studio.training.dpo import DPOConfig, train_dpo
from studio.training.engine import batch_for_step
from studio.training.preference_losses import bradley_terry_loss
from studio.training.reward import RewardConfig, train_reward
from tests.training.helpers import marker_pairs


def mixed_rankings() -> list[dict]:
    """2 four-way rankings (6 pairs each, weight 1/6) and 20 two-way ones (1 pair, weight 1): 32 pairs."""
    pairs = []
    for ranking, k in enumerate([4, 4] + [2] * 20):
        for chosen, rejected, weight in pairs_from_ranking([[i] for i in range(k)]):
            pairs.append({"prompt": f"p{ranking}", "chosen": str(chosen), "rejected": str(rejected),
                          "weight": weight, "ranking": ranking})
    return pairs


@pytest.mark.parametrize("batch_size", [1, 4, 32])
def test_each_ranking_gets_the_same_total_gradient_weight_over_an_epoch(batch_size):
    pairs = mixed_rankings()
    train_idx = list(range(len(pairs)))
    weights = pair_weights(pairs, train_idx, "cpu")
    margins = torch.zeros(len(pairs), requires_grad=True)
    for step in range(len(pairs) // batch_size):  # one epoch: every pair exactly once
        idx = batch_for_step(train_idx, step, batch_size, seed=0)
        bradley_terry_loss(margins[idx], torch.zeros(len(idx)), weights[idx]).backward()
    per_ranking = torch.zeros(22).index_add_(0, torch.tensor([p["ranking"] for p in pairs]), margins.grad)
    torch.testing.assert_close(per_ranking, per_ranking[:1].expand(22))


def weighted_marker_pairs() -> list[dict]:
    return [{**p, "weight": 1.0 if i % 2 else 1 / 3} for i, p in enumerate(marker_pairs(16))]


def test_reward_training_uses_the_pair_weights(base, tmp_path, monkeypatch):
    seen = record_weights(monkeypatch, reward)
    config = RewardConfig(steps=3, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    train_reward(base, weighted_marker_pairs(), config, tmp_path)
    assert_weights_are_the_normalised_pair_weights(seen)


def test_dpo_training_uses_the_pair_weights(base, tmp_path, monkeypatch):
    seen = record_weights(monkeypatch, preference_losses)
    config = DPOConfig(steps=3, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, eval_fraction=0.0)
    train_dpo(base, weighted_marker_pairs(), config, tmp_path)
    assert_weights_are_the_normalised_pair_weights(seen)


def record_weights(monkeypatch, module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []

    def recording_loss(chosen, rejected, weights=None):
        seen.append(weights)
        return bradley_terry_loss(chosen, rejected, weights)

    monkeypatch.setattr(module, "bradley_terry_loss", recording_loss)
    return seen


def assert_weights_are_the_normalised_pair_weights(seen: list[torch.Tensor]) -> None:
    mean = (1.0 + 1 / 3) / 2
    assert len(seen) == 3 and all(w is not None for w in seen)
    values = torch.cat(seen)
    assert torch.allclose(values.unique(), torch.tensor([1 / 3 / mean, 1 / mean]))
