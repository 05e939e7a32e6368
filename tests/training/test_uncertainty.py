import math

import pytest
import torch

from studio.core import active
from studio.core.active import Guess
from studio.core.project import Project
from studio.training import runs
from studio.training.configs import RewardConfig, SamplingConfig
from studio.training.uncertainty import (ENSEMBLE_FILE, bootstrap_counts, fit_heads, guesses_from,
                                        pairwise_disagreement, score_unranked)
from tests.training.helpers import marker_pairs


def _h(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _mi(*p: float) -> float:
    """Mutual information between a pair's outcome and the head, heads predicting `p`."""
    return _h(sum(p) / len(p)) - sum(_h(q) for q in p) / len(p)


def test_heads_split_between_answers_1_and_2_are_unsure():
    """Two heads (identity weights: each answer's features are its scores under head 1 and head 2) agree that
    answer 0 is worst, and disagree whether 1 or 2 wins. P(first) is the same under both heads, so a spread of
    P(first) reads 0 here; the pairwise disagreement sees the split: pairs (0,1), (0,2), (1,2) have P(i beats j)
    (sigmoid(-7), sigmoid(-5)), (sigmoid(-5), sigmoid(-7)), (sigmoid(2), sigmoid(-2))."""
    heads = torch.eye(2)
    split, mild = guesses_from(heads, [torch.tensor([[-5.0, -5.0], [2.0, 0.0], [0.0, 2.0]]),
                                       torch.tensor([[0.5, 0.0], [0.0, 0.0]])], [1, 2], 3, "bootstrap")
    expected = 2 * _mi(_sig(-7), _sig(-5)) + _mi(_sig(2), _sig(-2))
    assert split.spread == pytest.approx(expected, rel=1e-5) and split.unsure
    assert mild.spread == pytest.approx(_mi(_sig(0.5), 0.5), rel=1e-5)  # 2-way: heads disagree a little on answer 0
    assert active.informativeness(split) > active.informativeness(mild)
    assert pairwise_disagreement(torch.tensor([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(0.0, abs=1e-7)


def test_margin_fallback_is_unsure_between_the_best_two_of_any_k():
    """One head, 3 answers scored 0, 1, 1.1: P(first) = e^0 / (1 + e + e^1.1) is far from 1/2, but the best
    two are nearly tied: sigmoid(0.1) - 1/2 < MARGIN_UNSURE."""
    head = torch.tensor([[1.0]])
    [tied] = guesses_from(head, [torch.tensor([[0.0], [1.0], [1.1]])], [1], 3, "margin")
    [clear] = guesses_from(head, [torch.tensor([[0.0], [1.0], [3.0]])], [2], 3, "margin")
    assert tied.unsure and not clear.unsure and tied.spread == clear.spread == 0.0


def test_bootstrap_draws_whole_rankings():
    """Pairs 0-2 come from one 3-way ranking, 3-4 from another, 5 from a 2-way one: every head draws 3 rankings
    with replacement and takes all pairs of each."""
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    counts = bootstrap_counts(groups, 200, torch.Generator().manual_seed(0))
    assert counts.shape == (200, 6)
    assert (counts[:, 0] == counts[:, 1]).all() and (counts[:, 1] == counts[:, 2]).all()
    assert (counts[:, 3] == counts[:, 4]).all()
    assert (counts[:, [0, 3, 5]].sum(1) == 3).all()
    assert {tuple(row) for row in counts[:, [0, 3, 5]].tolist()} >= {(3.0, 0.0, 0.0), (1.0, 1.0, 1.0)}


def test_the_ensemble_resamples_by_ranking(monkeypatch, tmp_path):
    """Wiring: the pairs of one ranking share a group (rating pairs: one group per prompt); fewer than
    MIN_RANKINGS rankings fall back to the margin, however many pairs they imply."""
    from studio.core.ratings import Ratings, training_pairs
    from studio.core.store import Store
    from studio.training import uncertainty

    store = Store(None)
    p = store.add_prompt("q")
    four = store.add_comparison(p, [store.add_response(p, f"a{i}", "base") for i in range(4)])
    store.add_ranking(four, [[0], [1], [2], [3]])
    scorer = _FakeScorer()
    assert uncertainty.ensemble(scorer, training_pairs(store), tmp_path)[1] == "margin"  # 6 pairs, 1 ranking
    for i in range(2):
        q = store.add_prompt(f"q{i}")
        c = store.add_comparison(q, [store.add_response(q, f"b{i}{j}", "base") for j in range(2)])
        store.add_ranking(c, [[1], [0]])
    r = store.add_prompt("rated")
    for j, good in enumerate([True, False, False]):
        Ratings(store).add(store.add_response(r, f"c{j}", "base"), good, "me")
    seen = []
    monkeypatch.setattr(uncertainty, "fit_heads", lambda *args, **kw: seen.append(args[4]) or args[3][None])
    uncertainty.ensemble(scorer, training_pairs(store), tmp_path)
    pairs = training_pairs(store)
    assert [p.comparison_id for p in pairs].count(four) == 6 and len(pairs) == 10
    assert seen[0].tolist() == [0] * 6 + [1, 2, 3, 3]


class _FakeScorer:
    """What `ensemble` reads of a reward scorer: its head and the features of answers (here: made up)."""

    head = type("Head", (), {"linear": torch.nn.Linear(2, 1)})()

    def encode(self, prompts, responses):
        return list(zip(prompts, responses))

    def features(self, examples, batch_size=8):
        return torch.tensor([[float(len(r)), float(len(p))] for p, r in examples])


def test_guesses_by_hand():
    heads = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    split = guesses_from(heads, [torch.tensor([[1.0, 0.0], [0.0, 0.0]])], [7], 3, "bootstrap")[0]
    s = 1 / (1 + math.exp(-1))  # head 1: P(first) = sigmoid(1); head 2: sigmoid(-1)
    # mutual information of the one pair: H(1/2) - (H(s) + H(1 - s)) / 2 = ln 2 - H(s)
    assert split.p_first == pytest.approx(0.5) and split.spread == pytest.approx(math.log(2) - _h(s))
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
    heads = fit_heads(chosen, rejected, torch.ones(40), torch.zeros(6), torch.arange(40), n_heads=5, seed=0)
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
