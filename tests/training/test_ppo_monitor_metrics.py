"""PPO reports what the hacking monitor reads, and a length-gaming score raises the length alarm."""
import torch

from studio.core.monitor import HackingMonitor, MonitorSettings
from studio.core.text_stats import distinct_n
from studio.training.engine import Hooks
from studio.training.ppo import PPOConfig, train_ppo
from tests.training.test_ppo import PROMPTS


def by_length(prompts: list[str], responses: list[str]) -> torch.Tensor:
    """A reward model that only likes length: the gaming the monitor should see."""
    return torch.tensor([float(len(r)) for r in responses])


def test_ppo_reports_monitor_metrics_and_a_length_score_trips_the_length_alarm(base, tmp_path):
    rounds, samples = [], []
    hooks = Hooks(on_metrics=lambda s, m: rounds.append((s, m)), on_samples=lambda s, r: samples.append((s, r)))
    config = PPOConfig(iterations=3, batch_size=8, max_new_tokens=16, lr=5e-3, checkpoint_every=100,
                       samples_per_iteration=8)
    train_ppo(base, PROMPTS, by_length, config, tmp_path, hooks, init_adapter=None)
    for (step, metrics), (_, rows) in zip(rounds, samples):
        assert metrics["reward_length_corr"] > 0.99, step   # the score is the length in characters
        expected = distinct_n([r["response"] for r in rows], 2)
        assert metrics.get("distinct_2") == expected
    alarms = HackingMonitor(MonitorSettings(target_kl=config.target_kl)).observe_all(rounds)
    assert [(a.signal, a.began) for a in alarms] == [("length", 1)]
