import json

import pytest
import torch

from studio.core.reach import Reach
from studio.training import reward
from studio.training.batches import encode_example, split_by_prompt
from studio.training.checkpoints import checkpoint_dir
from studio.training.engine import Hooks
from studio.training.reward import RewardConfig, RewardScorer, train_reward
from studio.training.uncertainty import OnlineReward
from tests.training.helpers import marker_pairs, tiny_base

def small_config(**kw) -> RewardConfig:
    return RewardConfig(**{"steps": 6, "batch_size": 4, "max_length": 48, "lora_r": 4, "lora_alpha": 8,
                           "warmup_steps": 1, "eval_every": 100, "checkpoint_every": 2, **kw})


def test_split_keeps_each_prompt_on_one_side():
    pairs = marker_pairs(60)
    train, held = split_by_prompt(pairs, 0.25, seed=0)
    assert sorted(train + held) == list(range(60)) and held
    assert not {pairs[i]["prompt"] for i in train} & {pairs[i]["prompt"] for i in held}


def test_reward_model_learns_held_out_preferences_and_reloads(base, tiny_model_dir, tmp_path):
    pairs, seen = marker_pairs(60, seed=1), []
    config = small_config(steps=20, lr=1e-3, eval_fraction=0.25, eval_every=10, seed=1)  # starts near 50%
    result = train_reward(base, pairs, config, tmp_path, Hooks(on_metrics=lambda step, m: seen.append(m)))
    assert result.status == "finished" and result.step == 20
    assert result.metrics["eval_accuracy"] >= 0.9
    assert {"loss", "accuracy", "margin", "eval_loss", "eval_accuracy"} <= set(result.metrics)
    assert seen[-1]["loss"] < seen[0]["loss"]

    scorer = RewardScorer.load(tiny_base(tiny_model_dir), tmp_path)
    _, held = split_by_prompt(pairs, 0.25, seed=1)
    prompts = [pairs[i]["prompt"] for i in held]
    chosen = scorer(prompts, [pairs[i]["chosen"] for i in held])
    rejected = scorer(prompts, [pairs[i]["rejected"] for i in held], batch_size=3)
    assert (chosen > rejected).float().mean().item() == pytest.approx(result.metrics["eval_accuracy"])
    # PPO hands over left-padded sequences: the score must not depend on the padding side
    examples = [encode_example(scorer.base.tokenizer, p, r, None, 48) for p, r in
                [("hi", "banana"), ("tell me about rain", "odd red banana cold")]]
    pad, width = scorer.base.tokenizer.pad_token_id, max(len(ids) for ids, _ in examples)
    left = torch.tensor([[pad] * (width - len(ids)) + ids for ids, _ in examples])
    assert torch.allclose(scorer.score_ids(left, (left != pad).long()), scorer.score_examples(examples), atol=1e-4)
    # the stats were measured with the in-memory head right after training: reloaded scores match them
    responses = {(p["prompt"], p[side]) for p in pairs for side in ("chosen", "rejected")}
    normalised = scorer.normalised(*map(list, zip(*sorted(responses))))
    assert normalised.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert normalised.std().item() == pytest.approx(1.0, abs=1e-4)
    # the labels' reach: every preferred (chosen) answer has 4 words; the floor is the lowest training score
    reach = Reach.load(tmp_path)
    assert (reach.min_words, reach.loops) == (4, False)
    assert reach.floor == pytest.approx(scorer(*map(list, zip(*sorted(responses)))).min().item(), abs=1e-4)
    online = OnlineReward.load(tiny_base(tiny_model_dir), tmp_path)
    answers = ["banana", "odd red banana cold", "banana odd red banana cold"]  # shorter, within, longer: within
    plain = scorer.normalise(scorer(["hi"] * 3, answers)).tolist()
    guarded = online.score_fn(True, in_reach=True)(["hi"] * 3, answers)
    low = (reach.floor - scorer.mean) / scorer.std
    assert guarded.values.tolist() == pytest.approx([min(plain[0], low), plain[1], plain[2]], abs=1e-4)
    assert guarded.metrics["outside_reach"] == pytest.approx(1 / 3)


def test_cancel_then_resume_matches_uninterrupted_run(base, tmp_path):
    pairs, config = marker_pairs(20), small_config()
    steps = []
    hooks = Hooks(on_metrics=lambda step, m: steps.append(step), should_stop=lambda: len(steps) >= 3)
    cancelled = train_reward(base, pairs, config, tmp_path / "a", hooks)
    assert (cancelled.status, cancelled.step, cancelled.artifact) == ("cancelled", 3, None)
    resumed = train_reward(base, pairs, config, tmp_path / "a", resume=True)
    straight = train_reward(base, pairs, config, tmp_path / "b")
    assert resumed.status == straight.status == "finished"
    assert resumed.step == straight.step == config.steps
    assert resumed.metrics["loss"] == pytest.approx(straight.metrics["loss"], rel=1e-4)


def test_nan_loss_stops_as_diverged_keeping_last_checkpoint(base, tmp_path, monkeypatch):
    real, calls = reward.bradley_terry_loss, []

    def poisoned(*args, **kw):
        calls.append(1)
        loss = real(*args, **kw)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(reward, "bradley_terry_loss", poisoned)
    result = train_reward(base, marker_pairs(20), small_config(eval_fraction=0.0, checkpoint_every=3), tmp_path)
    assert (result.status, result.step, result.artifact) == ("diverged", 4, None)
    assert "nan" in result.error
    assert json.loads((checkpoint_dir(tmp_path) / "meta.json").read_text())["step"] == 3
    assert not (tmp_path / "adapter").exists()


def test_a_fresh_reward_model_has_no_preference_before_it_learns(base, tmp_path):
    """Before learning, every answer scores (nearly) the same: a random head's spread would be a preference the
    few steps of a small data set cannot undo (bench/RESULTS.md 19b)."""
    pairs = marker_pairs(8)
    result = train_reward(base, pairs, small_config(steps=1, lr=1e-12, warmup_steps=0, eval_fraction=0.0), tmp_path)
    scorer = RewardScorer.load(base, tmp_path)
    answers = [p[side] for p in pairs for side in ("chosen", "rejected")]
    scores = scorer(["tell me about rain"] * len(answers), answers)
    feats = scorer.scores_and_features(["tell me about rain"] * len(answers), answers)[1]
    assert result.status == "finished"
    # the head's weights are drawn with std 1e-3: scores spread by about 1e-3 x the features' norm, not 1/sqrt(d)
    assert scores.std().item() < 3e-3 * feats.norm(dim=1).mean().item()
