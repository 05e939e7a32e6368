"""Plackett-Luce and listwise DPO on hand-made tensors: K = 2 is Bradley-Terry / pair DPO, a K = 3 ranking by
hand, ties (each tied answer against the answers below it only), padding and weights."""
import math

import pytest
import torch

from studio.training.preference_losses import (bradley_terry_loss, dpo_loss, listwise_dpo_loss, plackett_luce_loss,
                                               ranked_pairs)


def test_two_answers_is_bradley_terry():
    scores = torch.tensor([[2.0, 1.0], [0.0, 0.5], [-1.0, 3.0]])
    places = torch.tensor([[0, 1], [0, 1], [1, 0]])  # the third ranking puts answer 1 first
    weights = torch.tensor([1.0, 0.5, 2.0])
    expected = bradley_terry_loss(torch.tensor([2.0, 0.0, 3.0]), torch.tensor([1.0, 0.5, -1.0]), weights)
    assert plackett_luce_loss(scores, places, weights).item() == pytest.approx(expected.item(), rel=1e-6)


def test_three_answers_by_hand():
    """Order 1 > 2 > 0 of scores (1, 3, 2): P = e^3/(e^1+e^3+e^2) * e^2/(e^1+e^2), over 2 choices."""
    scores, places = torch.tensor([[1.0, 3.0, 2.0]]), torch.tensor([[2, 0, 1]])
    e = math.exp
    log_p = math.log(e(3) / (e(1) + e(3) + e(2))) + math.log(e(2) / (e(1) + e(2)))
    assert plackett_luce_loss(scores, places).item() == pytest.approx(-log_p / 2, rel=1e-6)


def test_tied_answers_each_choose_from_the_answers_below():
    """[[0, 1], [2]]: answers 0 and 1 each against 2 alone, never against each other; 2 chooses nothing."""
    scores, places = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([[0, 0, 1]])
    e = math.exp
    by_hand = -(math.log(e(1) / (e(1) + e(0.5))) + math.log(e(-2) / (e(-2) + e(0.5)))) / 2
    assert plackett_luce_loss(scores, places).item() == pytest.approx(by_hand, rel=1e-6)
    # [[0], [1, 2]]: answer 0 chooses from all three; the tied last group chooses nothing
    by_hand = -math.log(e(1) / (e(1) + e(-2) + e(0.5)))
    assert plackett_luce_loss(scores, torch.tensor([[0, 1, 1]])).item() == pytest.approx(by_hand, rel=1e-6)


def test_padding_changes_nothing():
    scores = torch.tensor([[1.0, 3.0, 2.0], [0.3, -0.7, 99.0]])
    places = torch.tensor([[2, 0, 1], [1, 0, -1]])  # the second ranking has 2 answers; 99 is padding
    alone = [plackett_luce_loss(scores[:1], places[:1]), plackett_luce_loss(scores[1:, :2], places[1:, :2])]
    weights = torch.tensor([1.0, 3.0])
    expected = (alone[0] * 1.0 + alone[1] * 3.0) / 2
    assert plackett_luce_loss(scores, places, weights).item() == pytest.approx(expected.item(), rel=1e-6)


def test_listwise_dpo_with_two_answers_is_pair_dpo():
    pi, ref = torch.tensor([[-3.0, -5.0], [-4.0, -2.0]]), torch.tensor([[-4.0, -4.5], [-4.0, -3.0]])
    places = torch.tensor([[0, 1], [1, 0]])
    loss, rewards = listwise_dpo_loss(pi, ref, places, beta=0.5)
    expected, _, _ = dpo_loss(torch.tensor([-3.0, -2.0]), torch.tensor([-5.0, -4.0]),
                              torch.tensor([-4.0, -3.0]), torch.tensor([-4.5, -4.0]), 0.5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert rewards.flatten().tolist() == pytest.approx([0.5, -0.25, 0.0, 0.5])


def test_listwise_dpo_starts_at_the_mean_log_k_factorial():
    """Policy = reference: every reward 0, each choice from n answers costs log n; a K = 4 ranking averages
    (log 4 + log 3 + log 2) / 3."""
    zeros = torch.zeros(1, 4)
    loss, _ = listwise_dpo_loss(zeros - 7, zeros - 7, torch.tensor([[3, 1, 0, 2]]), beta=0.1)
    assert loss.item() == pytest.approx(math.log(24) / 3, rel=1e-6)


def test_ranked_pairs_lists_every_pair_across_places():
    scores = torch.tensor([[10.0, 20.0, 30.0], [1.0, 2.0, 0.0]])
    places = torch.tensor([[1, 0, 1], [0, 1, -1]])  # [[1], [0, 2]] and a 2-way ranking
    better, worse = ranked_pairs(scores, places)
    assert sorted(zip(better.tolist(), worse.tolist())) == [(1.0, 2.0), (20.0, 10.0), (20.0, 30.0)]


def test_the_ranking_loss_setting_is_checked_by_name():
    from studio.training.configs import DPOConfig, RewardConfig, validate

    validate(RewardConfig(ranking_loss="plackett_luce"))
    assert RewardConfig().ranking_loss == DPOConfig().ranking_loss == "auto"
    with pytest.raises(ValueError, match="ranking_loss must be one of auto, pairs, plackett_luce \\(got 'listnet'\\)"):
        validate(DPOConfig(ranking_loss="listnet"))
