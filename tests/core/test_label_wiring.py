"""Where labels land and what reaches the losses: rating pairs per (prompt, annotator) with their weights, the KTO
examples a rating makes, and a repeat of a 3-answer comparison mapped back through a shuffle that is not its own
inverse."""
import pytest

from studio.core import active
from studio.core.active import Repeat
from studio.core.ratings import Ratings, training_pairs
from studio.core.store import Store


@pytest.fixture
def store():
    with Store(None) as s:
        yield s


def test_rating_pairs_stay_within_one_annotator(store):
    q = store.add_prompt("Q")
    a, b, c = (store.add_response(q, t, "base") for t in "abc")
    ratings = Ratings(store)
    ratings.add(a, True, "me"), ratings.add(b, False, "me")
    ratings.add(b, True, "bob"), ratings.add(c, False, "bob"), ratings.add(a, False, "bob")
    got = sorted((p.chosen, p.rejected, p.weight) for p in ratings.pairs())
    assert got == [("a", "b", 1.0), ("b", "a", 0.5), ("b", "c", 0.5)]


def test_ranking_pairs_share_weight_one_and_come_before_rating_pairs(store):
    q = store.add_prompt("Q")
    ids = [store.add_response(q, t, "base") for t in "abc"]
    store.add_ranking(store.add_comparison(q, ids), [[2], [0], [1]], "me")
    Ratings(store).add(ids[0], True, "me"), Ratings(store).add(ids[1], False, "me")
    got = [(p.chosen, p.rejected, pytest.approx(p.weight)) for p in training_pairs(store)]
    assert got == [("c", "a", 1 / 3), ("c", "b", 1 / 3), ("a", "b", 1 / 3), ("a", "b", 1.0)]


def test_each_rating_is_one_kto_example_with_its_own_label(store):
    q, p = store.add_prompt("Q"), store.add_prompt("P")
    good, bad = store.add_response(q, "yes", "base"), store.add_response(p, "no", "base")
    Ratings(store).add(bad, False, "me"), Ratings(store).add(good, True, "bob")
    assert Ratings(store).examples() == [{"prompt": "P", "completion": "no", "label": False},
                                         {"prompt": "Q", "completion": "yes", "label": True}]


def test_a_three_answer_repeat_maps_screen_positions_back_through_the_shuffle(store):
    q = store.add_prompt("Q")
    comparison = store.add_comparison(q, [store.add_response(q, t, "base") for t in "abc"])
    repeat = Repeat(store.comparison(comparison), [1, 2, 0])  # screen shows b, c, a
    assert repeat.on_screen().responses == ["b", "c", "a"]
    active.add_repeat(store, repeat, [[2], [0, 1]], "me")  # the person puts "a" first, then b and c tied
    assert active.repeats(store)[0]["order"] == [[0], [1, 2]]
    active.add_repeat(store, repeat, [[0], [1], [2]], "me")  # b, c, a
    assert active.repeats(store)[1]["order"] == [[1], [2], [0]]
