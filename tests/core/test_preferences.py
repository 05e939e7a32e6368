import pytest

from studio.core.preferences import check_order, pairs_from_ranking, ranking_loss_for, ranking_record


def test_full_ranking_of_three_gives_three_pairs_of_weight_one_third():
    assert pairs_from_ranking([[2], [0], [1]]) == [(2, 0, 1 / 3), (2, 1, 1 / 3), (0, 1, 1 / 3)]


def test_ties_give_no_pair_and_weights_sum_to_one():
    pairs = pairs_from_ranking([[0, 1], [2]])
    assert pairs == [(0, 2, 0.5), (1, 2, 0.5)]
    assert sum(w for *_, w in pairs_from_ranking([[3], [0, 2], [1]])) == pytest.approx(1)


def test_two_responses_one_pair_of_weight_one():
    assert pairs_from_ranking([[0], [1]]) == [(0, 1, 1.0)]


@pytest.mark.parametrize("order", [[], [[0, 1, 2]]])
def test_skip_or_all_tied_gives_nothing(order):
    assert pairs_from_ranking(order) == []


@pytest.mark.parametrize("order, k, message", [
    ([[0], [1]], 1, "at least 2"),
    ([[0], [2]], 2, "exactly once"),
    ([[0], [0], [1]], 2, "exactly once"),
    ([[0], []], 2, "non-empty groups"),
    ([0, 1], 2, "non-empty groups"),
    ([[0], [True]], 2, "integers"),
])
def test_check_order_rejects(order, k, message):
    with pytest.raises(ValueError, match=message):
        check_order(order, k)


def test_auto_is_plackett_luce_only_where_a_ranking_has_more_than_2_places():
    pair = {"prompt": "Q", "chosen": "a", "rejected": "b"}
    liked_and_disliked = ranking_record("Q", ["a", "b", "c"], [[0], [1, 2]], None)  # 3 answers in 2 places
    assert ranking_loss_for("auto", [pair, liked_and_disliked]) == ranking_loss_for("auto", []) == "pairs"
    strict = ranking_record("Q", ["a", "b", "c"], [[2], [0], [1]], 1)
    assert ranking_loss_for("auto", [pair, liked_and_disliked, strict]) == "plackett_luce"
    assert ranking_loss_for("pairs", [strict]) == "pairs"
    assert ranking_loss_for("plackett_luce", [pair]) == "plackett_luce"
