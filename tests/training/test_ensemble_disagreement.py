"""PPO and RLOO rounds report how much the reward run's bootstrap heads disagree on their answers."""
import statistics

import pytest
import torch
from safetensors.torch import load_file, save_file

from studio.core.oversight_store import alarms
from studio.training import runs
from studio.training.batches import encode_example
from studio.training.configs import RewardConfig
from studio.training.online_configs import PPOConfig, RLOOConfig
from studio.training.engine import Hooks
from studio.training.reward import ADAPTER, RewardScorer
from studio.training.uncertainty import ENSEMBLE_FILE, Ensemble, load_ensemble
from tests.training.test_uncertainty import _project

TINY = dict(max_new_tokens=8, lora_r=4, lora_alpha=8, checkpoint_every=100, samples_per_iteration=100)
CONFIGS = {"ppo": PPOConfig(iterations=2, batch_size=3, ppo_epochs=1, minibatches=1, **TINY),
           "rloo": RLOOConfig(iterations=2, batch_size=2, samples_per_prompt=2, **TINY)}


def test_disagreement_by_hand():
    heads = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]])
    ensemble = Ensemble(heads, mean=torch.tensor([0.0, 1.0, 2.0]), std=torch.tensor([1.0, 2.0, 4.0]))
    feats = torch.tensor([[3.0, 5.0], [1.0, 1.0]])
    # answer 1: raw 3, -3, 10 -> normalised 3, -2, 2; answer 2: raw 1, -1, 2 -> 1, -1, 0
    expected = (statistics.pstdev([3, -2, 2]) + statistics.pstdev([1, -1, 0])) / 2
    assert ensemble.disagreement(feats) == pytest.approx(expected)
    # heads that differ only in scale (and so in their training mean and std) agree: raw 2 and 6 are both 1 std up
    same = Ensemble(torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([1.0, 3.0]), torch.tensor([1.0, 3.0]))
    assert same.disagreement(torch.tensor([[2.0, 7.0]])) == pytest.approx(0.0)


def _reward_project(tmp_path, tiny_model_dir, base):
    project = _project(tmp_path, tiny_model_dir)  # 24 ranked pairs: enough to fit the bootstrap heads
    config = RewardConfig(steps=4, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, warmup_steps=1,
                          eval_every=100, checkpoint_every=100, eval_fraction=0.0)
    reward_id, result = runs.train(project, base, "reward", config)
    assert result.status == "finished"
    return project, reward_id


def _by_hand(base, run_dir, rows: list[dict]) -> float:
    """The spread of the heads' normalised scores (each by its own saved mean and std), one answer at a time
    (no batching, no padding)."""
    stored, scorer = load_file(str(run_dir / ENSEMBLE_FILE)), RewardScorer.load(base, run_dir)
    spreads = []
    with torch.no_grad(), base.use(ADAPTER):
        for row in rows:
            ids, _ = encode_example(base.tokenizer, row["prompt"], row["response"], None, scorer.max_length)
            feature = base.hidden_states(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0, -1]
            scores = [((feature.float() @ head).item() - mean.item()) / std.item()
                      for head, mean, std in zip(stored["heads"], stored["mean"], stored["std"])]
            spreads.append(statistics.pstdev(scores))
    return sum(spreads) / len(spreads)


@pytest.mark.parametrize("kind", ["ppo", "rloo"])
def test_each_round_reports_the_heads_spread_and_none_without_an_ensemble(base, tiny_model_dir, tmp_path, kind):
    project, reward_id = _reward_project(tmp_path, tiny_model_dir, base)
    run_dir = project.run_dir(reward_id)
    stored = load_file(str(run_dir / ENSEMBLE_FILE))
    assert stored["heads"].shape == (5, base.hidden_size) and stored["mean"].shape == stored["std"].shape == (5,)
    rounds, samples = [], {}
    hooks = Hooks(on_metrics=lambda s, m: rounds.append(m), on_samples=lambda s, r: samples.setdefault(s, r))
    run_id, result = runs.train(project, base, kind, CONFIGS[kind], hooks)
    assert result.status == "finished" and len(rounds) == 2
    for step, metrics in enumerate(rounds, 1):
        expected = _by_hand(base, run_dir, samples[step])
        assert expected > 0 and metrics["ensemble_disagreement"] == pytest.approx(expected, rel=1e-3, abs=1e-6)
    stored = [m for m in project.store.metrics(run_id) if m["name"] == "ensemble_disagreement"]
    assert [m["value"] for m in stored] == pytest.approx([m["ensemble_disagreement"] for m in rounds])

    (run_dir / ENSEMBLE_FILE).unlink()  # a reward run without an ensemble: no metric, and the alarm stays silent
    rounds.clear()
    run_id, result = runs.train(project, base, kind, CONFIGS[kind], hooks)
    assert result.status == "finished" and rounds and all("ensemble_disagreement" not in m for m in rounds)
    assert "reward" in rounds[0] and all(a.signal != "ensemble" for _, a in alarms(project.store, run_id))


def test_only_a_saved_ensemble_with_its_statistics_is_used(tmp_path):
    heads = torch.ones(5, 3)
    assert load_ensemble(tmp_path) is None
    save_file({"heads": heads}, str(tmp_path / ENSEMBLE_FILE))  # written before the statistics were saved
    assert load_ensemble(tmp_path) is None
    save_file({"heads": heads[:1], "mean": torch.ones(1), "std": torch.ones(1)}, str(tmp_path / ENSEMBLE_FILE))
    assert load_ensemble(tmp_path) is None  # the margin's single head: nothing to disagree
    save_file({"heads": heads, "mean": torch.zeros(5), "std": torch.ones(5)}, str(tmp_path / ENSEMBLE_FILE))
    assert torch.equal(load_ensemble(tmp_path).heads, heads)
