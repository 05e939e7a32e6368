"""The conservative reward (`uncertainty_penalty`): what reaches PPO's and RLOO's advantages is the ensemble's mean
normalised score minus c times the heads' standard deviation, on hand-made heads; c = 0 leaves the run's own score."""
import statistics

import pytest
import torch

from studio.core.reach import Reach
from studio.training import ppo, rloo
from studio.training.configs import validate
from studio.training.online_configs import PPOConfig, RLOOConfig
from studio.training.uncertainty import Ensemble, round_scorer
from tests.training.test_ppo import PROMPTS
from tests.training.test_rloo_wiring import by_hand

HEADS = [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
MEANS, STDS = [0.5, 1.0, -0.5], [1.0, 2.0, 0.5]
ENSEMBLE = Ensemble(torch.tensor(HEADS), torch.tensor(MEANS), torch.tensor(STDS))
K = 2


def features_of(text: str) -> list[float]:
    """Two hand-made features: tenths of the length and the number of vowels."""
    return [len(text) / 10, float(sum(text.count(v) for v in "aeiou"))]


class FakeScorer:
    """A reward model whose own head reads feature 0 (mean 0.2, std 2 over its 'training answers')."""

    mean, std = 0.2, 2.0

    def scores_and_features(self, prompts: list[str], responses: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        feats = torch.tensor([features_of(r) for r in responses])
        return feats[:, 0].clone(), feats

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean) / self.std


def lower_bound_by_hand(text: str, c: float) -> float:
    """Mean of the heads' normalised scores minus c times their population standard deviation, in floats."""
    f = features_of(text)
    scores = [(h[0] * f[0] + h[1] * f[1] - m) / s for h, m, s in zip(HEADS, MEANS, STDS)]
    return statistics.fmean(scores) - c * statistics.pstdev(scores)


def own_score(text: str) -> float:
    return (features_of(text)[0] - FakeScorer.mean) / FakeScorer.std


def ppo_scores(base, monkeypatch, tmp_path, c: float) -> tuple[list[str], list[float], list[dict]]:
    """One PPO round on the round scorer: (answers, the scores handed to the per-token rewards, round metrics)."""
    seen, rounds, real = {}, [], ppo.kl_penalty_rewards

    def rewards(score, *args):
        seen["scores"] = score.tolist()
        return real(score, *args)

    def scorer(prompts, responses):
        seen["texts"] = list(responses)
        return round_scorer(FakeScorer(), ENSEMBLE, False, c)(prompts, responses)

    monkeypatch.setattr(ppo, "kl_penalty_rewards", rewards)
    config = PPOConfig(iterations=1, batch_size=4, ppo_epochs=1, minibatches=1, max_new_tokens=12,
                       checkpoint_every=100, uncertainty_penalty=c)
    hooks = ppo.Hooks(on_metrics=lambda s, m: rounds.append(m))
    result = ppo.train_ppo(base, PROMPTS, scorer, config, tmp_path, hooks, init_adapter=None,
                           score_norm=(FakeScorer.mean, FakeScorer.std))
    assert result.status == "finished"
    return seen["texts"], seen["scores"], rounds


def rloo_advantages(base, monkeypatch, tmp_path, c: float) -> tuple[list[str], list[float], list[dict]]:
    """One RLOO round (beta ~ 0, so the KL price is negligible): (answers, advantages in the loss, round metrics)."""
    seen, calls, rounds, real = {}, [], [], rloo.sequence_policy_loss

    def loss(logprobs, old_logprobs, advantages, *args, **kwargs):
        calls.append(advantages.detach().clone())
        return real(logprobs, old_logprobs, advantages, *args, **kwargs)

    def scorer(prompts, responses):
        seen["texts"] = list(responses)
        return round_scorer(FakeScorer(), ENSEMBLE, True, c)(prompts, responses)

    monkeypatch.setattr(rloo, "sequence_policy_loss", loss)
    config = RLOOConfig(iterations=1, batch_size=2, samples_per_prompt=K, max_new_tokens=12, beta=1e-9,
                        checkpoint_every=100, uncertainty_penalty=c)
    hooks = rloo.Hooks(on_metrics=lambda s, m: rounds.append(m))
    result = rloo.train_rloo(base, PROMPTS, scorer, config, tmp_path, hooks, init_adapter=None)
    assert result.status == "finished"
    return seen["texts"], torch.cat(calls).tolist(), rounds


def test_ppo_optimises_the_heads_mean_minus_c_times_their_spread(base, monkeypatch, tmp_path):
    texts, scores, rounds = ppo_scores(base, monkeypatch, tmp_path, 1.5)
    expected = [lower_bound_by_hand(t, 1.5) for t in texts]
    assert scores == pytest.approx(expected, abs=1e-5)
    spread = [lower_bound_by_hand(t, 0.0) - lower_bound_by_hand(t, 1.0) for t in texts]
    assert min(spread) > 0.05  # the heads really disagree, so the penalty moves the reward
    assert rounds[0]["uncertainty_penalty"] == pytest.approx(1.5 * statistics.fmean(spread), abs=1e-5)


def test_ppo_without_a_penalty_keeps_the_run_s_own_score(base, monkeypatch, tmp_path):
    texts, scores, rounds = ppo_scores(base, monkeypatch, tmp_path, 0.0)
    assert scores == pytest.approx([own_score(t) for t in texts], abs=1e-5)
    assert "uncertainty_penalty" not in rounds[0] and "ensemble_disagreement" in rounds[0]


@pytest.mark.parametrize("c", [0.0, 2.0])
def test_rloo_advantages_follow_the_lower_bound(base, monkeypatch, tmp_path, c):
    texts, advantages, rounds = rloo_advantages(base, monkeypatch, tmp_path, c)
    rewards = [lower_bound_by_hand(t, c) if c else own_score(t) for t in texts]
    assert advantages == pytest.approx(by_hand(rewards, K), abs=1e-4)
    assert ("uncertainty_penalty" in rounds[0]) == (c > 0)


def test_a_negative_penalty_is_refused():
    validate(PPOConfig(uncertainty_penalty=0.5))
    with pytest.raises(ValueError, match="uncertainty_penalty"):
        validate(RLOOConfig(uncertainty_penalty=-1.0))


REACH = Reach(min_words=2, max_nonwords=0.0, loops=False, floor=-2.0)  # floor in raw units
TEXTS = ["ok", "an egg is a Glrbxtkq", "eat an egg", "egg egg egg yolk", "so it goes"]  # short, non-word, in, loop, in


@pytest.mark.parametrize("normalised", [False, True])
@pytest.mark.parametrize("c", [0.0, 1.0])
def test_answers_past_the_reach_score_no_more_than_its_floor(normalised, c):
    """With a reach, an answer past it scores min(its score, the floor), in the scorer's units; one within scores as
    without; the round metric `outside_reach` is their share."""
    without = round_scorer(FakeScorer(), ENSEMBLE, normalised, c)(["q"] * 5, TEXTS)
    scores = round_scorer(FakeScorer(), ENSEMBLE, normalised, c, REACH)(["q"] * 5, TEXTS)
    floor = (REACH.floor - FakeScorer.mean) / FakeScorer.std if normalised else REACH.floor
    before = without.values.tolist()
    expected = [min(before[i], floor) if i in (0, 1, 3) else before[i] for i in range(5)]
    assert scores.values.tolist() == pytest.approx(expected, abs=1e-6)
    assert max(before[i] for i in (0, 1, 3)) > floor  # the floor really caps an answer here
    assert scores.metrics["outside_reach"] == pytest.approx(3 / 5)
    assert "outside_reach" not in without.metrics


class RecordingReward:
    """A reward that records what the engine asks of it and scores every answer 0."""

    norm = (0.0, 1.0)

    def __init__(self):
        self.asked: list[tuple] = []

    def score_fn(self, normalised: bool, penalty: float = 0.0, in_reach: bool = False):
        self.asked.append((penalty, in_reach))
        return lambda prompts, responses: torch.zeros(len(responses))


@pytest.mark.parametrize("stay", [False, True])
def test_online_engines_ask_for_the_reach_as_their_config_says(base, tmp_path, stay):
    ppo_reward, group_reward = RecordingReward(), RecordingReward()
    ppo.train_ppo_online(base, PROMPTS, PPOConfig(iterations=1, batch_size=2, ppo_epochs=1, minibatches=1,
                                                  max_new_tokens=4, checkpoint_every=100, stay_in_reach=stay,
                                                  uncertainty_penalty=0.5),
                         tmp_path / "ppo", init_adapter=None, reward=ppo_reward)
    rloo.train_rloo_online(base, PROMPTS, RLOOConfig(iterations=1, batch_size=2, samples_per_prompt=K,
                                                     max_new_tokens=4, checkpoint_every=100, stay_in_reach=stay),
                           tmp_path / "rloo", init_adapter=None, reward=group_reward)
    assert ppo_reward.asked == [(0.5, stay)]
    assert group_reward.asked == [(RLOOConfig().uncertainty_penalty, stay)]
