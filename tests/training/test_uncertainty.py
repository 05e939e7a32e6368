import math

import pytest
import torch

from studio.core import active
from studio.core.active import Guess
from studio.core.project import Project
from studio.training import runs
from studio.training.configs import RewardConfig, SamplingConfig
from studio.training.uncertainty import ENSEMBLE_FILE, fit_heads, guesses_from, score_unranked
from tests.training.helpers import marker_pairs


def test_guesses_by_hand():
    heads = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    split = guesses_from(heads, [torch.tensor([[1.0, 0.0], [0.0, 0.0]])], [7], 3, "bootstrap")[0]
    s = 1 / (1 + math.exp(-1))  # head 1: P(first) = sigmoid(1); head 2: sigmoid(-1)
    assert split.p_first == pytest.approx(0.5) and split.spread == pytest.approx(s - 0.5)
    assert split.unsure and split.probs == [pytest.approx(0.5), pytest.approx(0.5)]
    agree = guesses_from(heads[:1].repeat(2, 1), [torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])], [8], 3,
                         "bootstrap")[0]
    e = [1, math.exp(2), math.exp(1)]
    assert agree.probs == [pytest.approx(v / sum(e), abs=1e-6) for v in e]
    assert agree.best == 1 and agree.spread == 0 and not agree.unsure
    margin = guesses_from(heads[:1], [torch.tensor([[0.1, 0.0], [0.0, 0.0]])], [9], 3, "margin")[0]
    assert margin.unsure and margin.spread == 0  # P(first) = sigmoid(0.1), within 0.1 of 1/2


def test_bootstrap_heads_learn_the_rule_and_disagree_where_labels_say_little():
    g = torch.Generator().manual_seed(0)
    chosen, rejected = torch.randn(40, 6, generator=g), torch.randn(40, 6, generator=g)
    chosen[:, 0] += 2.0  # the labels only ever speak about feature 0
    heads = fit_heads(chosen, rejected, torch.ones(40), torch.zeros(6), n_heads=5, seed=0)
    assert heads.shape == (5, 6) and (heads[:, 0] > 0.5).all()
    assert len({tuple(h.tolist()) for h in heads}) == 5  # resamples differ
    along = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0.0, 0, 0, 0, 0, 0]])
    noise = torch.zeros(2, 6)
    noise[0, 1:] = torch.tensor([1.5, -1.5, 1.5, -1.5, 1.5])  # directions the labels hardly constrain
    sure, unsure = guesses_from(heads, [along, noise], [1, 2], 1, "bootstrap")
    assert sure.p_first > 0.6 and unsure.spread > sure.spread


def _project(tmp_path, tiny_model_dir) -> Project:
    project = Project.init(tmp_path / "proj", model=str(tiny_model_dir))
    store = project.store
    for pair in marker_pairs(24, seed=2):
        p = store.add_prompt(pair["prompt"])
        c = store.add_comparison(p, [store.add_response(p, pair[s], "base") for s in ("chosen", "rejected")])
        store.add_ranking(c, [[0], [1]])
    for pair in marker_pairs(6, seed=3):  # unranked, the banana answer second
        p = store.add_prompt(pair["prompt"] + " again")
        store.add_comparison(p, [store.add_response(p, pair[s], "base") for s in ("rejected", "chosen")])
    return project


def test_a_finished_reward_run_guesses_every_unranked_comparison(base, tiny_model_dir, tmp_path):
    project = _project(tmp_path, tiny_model_dir)
    config = RewardConfig(steps=4, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, warmup_steps=1,
                          eval_every=100, checkpoint_every=100, eval_fraction=0.0)
    run_id, result = runs.train(project, base, "reward", config)
    assert result.status == "finished"
    store = project.store
    found = active.guesses(store)
    unranked = {c.id for c in store.unranked_comparisons()}
    assert set(found) == unranked and len(unranked) == 6
    assert all(g.method == "bootstrap" and g.run_id == run_id and 0 < g.p_first < 1 and g.spread > 0
               for g in found.values())
    assert (project.run_dir(run_id) / ENSEMBLE_FILE).exists()
    order = active.queue(store, "me", "uncertain")
    assert [found[c.id].spread for c in order] == sorted((g.spread for g in found.values()), reverse=True)
    # a new comparison (and a new label) later: guessed by the same run with the cached heads, not refitted
    cached = (project.run_dir(run_id) / ENSEMBLE_FILE).read_bytes()
    store.add_ranking(next(iter(unranked)), [[1], [0]])
    p = store.add_prompt("one more")
    c = store.add_comparison(p, [store.add_response(p, t, "base") for t in ("banana red", "lemon red")])
    assert score_unranked(project, base) == 1 and c in active.guesses(store)
    assert score_unranked(project, base) == 0
    assert (project.run_dir(run_id) / ENSEMBLE_FILE).read_bytes() == cached


def test_generation_answers_the_prompts_the_reward_model_knows_least_first(base, tiny_model_dir, tmp_path):
    project = _project(tmp_path, tiny_model_dir)
    config = RewardConfig(steps=2, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, warmup_steps=1,
                          eval_every=100, checkpoint_every=100, eval_fraction=0.0)
    run_id, _ = runs.train(project, base, "reward", config)
    store = project.store
    known = {}
    for name in ("sure", "unsure"):  # answered by another policy, so they still lack base answers
        p = store.add_prompt(f"{name} prompt")
        known[name] = (p, store.add_comparison(p, [store.add_response(p, t, "imported") for t in ("x", "y")]))
    fresh = store.add_prompt("a prompt nobody answered")
    score_unranked(project, base)
    active.save_guesses(store, run_id, [Guess(known["sure"][1], run_id, 0.5, 0.01, [0.5, 0.5], False, "bootstrap"),
                                        Guess(known["unsure"][1], run_id, 0.5, 0.4, [0.5, 0.5], True, "bootstrap")])
    made = runs.generate_comparisons(project, base, 2, "base", SamplingConfig(max_new_tokens=3), limit=2)
    assert [store.comparison(c).prompt_id for c in made] == [fresh, known["unsure"][0]]
    assert set(made) <= set(active.guesses(store))  # the new comparisons join the queue with a guess
