"""The rankings path keeps every ranking whole, and decomposes into exactly the pairs the pairs path gives."""
import dataclasses

from studio.core.preferences import pair_records, ranking_record, ranking_records
from studio.core.ratings import Ratings, training_pairs, training_rankings


def seeded(store) -> None:
    """A 4-way ranking with a tie, a skipped one, an all-tied one, a second annotator's, and ratings."""
    q, p = store.add_prompt("Q"), store.add_prompt("P")
    four = store.add_comparison(q, [store.add_response(q, t, "base") for t in "abcd"])
    two = store.add_comparison(p, [store.add_response(p, t, "base") for t in "xy"])
    store.add_ranking(four, [[2], [0, 3], [1]])
    store.add_ranking(four, [[3], [2], [1], [0]], annotator="ann")
    store.add_ranking(two, [], status="skip")
    store.add_ranking(two, [[0, 1]], annotator="ann")
    r = store.add_prompt("R")
    rated = [store.add_response(r, t, "base") for t in ("good1", "bad", "good2")]
    for response, good in zip(rated, (True, False, True)):
        Ratings(store).add(response, good, "me")


def test_rankings_are_whole_with_their_ties(store):
    seeded(store)
    four = store.comparisons()[0].id
    assert training_rankings(store) == [
        ranking_record("Q", list("abcd"), [[2], [0, 3], [1]], four),
        ranking_record("Q", list("abcd"), [[3], [2], [1], [0]], four),
        ranking_record("R", ["good1", "good2", "bad"], [[0, 1], [2]], None)]  # skip and all-tied say nothing


def test_their_pairs_are_the_pairs_path(store):
    seeded(store)
    pairs = [dataclasses.asdict(p) for p in training_pairs(store)]
    assert len(pairs) == 5 + 6 + 2
    assert pair_records(training_rankings(store)) == pairs


def test_a_pair_is_a_two_way_ranking_and_back():
    pair = {"prompt": "Q", "chosen": "a", "rejected": "b", "weight": 0.25, "comparison_id": 3, "system": "s"}
    (ranking,) = ranking_records([pair])
    assert ranking == {**ranking_record("Q", ["a", "b"], [[0], [1]], 3, 0.25), "system": "s"}
    assert pair_records([ranking]) == [pair]
