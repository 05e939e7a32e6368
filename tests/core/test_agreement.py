import math

import pytest

from studio.core import active, agreement
from studio.core.active import Guess, Repeat
from studio.core.ratings import Ratings

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers, 12 units, missing data
EXAMPLE_C = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
             [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
             [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
             [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]
# ... example A: two observers, binary data, alpha = 0.095
EXAMPLE_A = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]


def _labels(rows):
    return {f"o{i}": {("u", j): float(v) for j, v in enumerate(row) if not math.isnan(v)} for i, row in enumerate(rows)}


@pytest.mark.parametrize("level, published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                                              ("ratio", 0.797)])
def test_alpha_matches_krippendorffs_worked_example(level, published):
    assert agreement.alpha(_labels(EXAMPLE_C), level) == pytest.approx(published, abs=5e-4)


def test_alpha_is_undefined_without_two_annotators_or_without_variation():
    assert agreement.alpha(_labels(EXAMPLE_C[:1])) is None
    assert agreement.alpha({"a": {("u", 0): 1.0}, "b": {("u", 1): 1.0}}) is None  # nothing shared
    assert agreement.alpha({"a": {("u", 0): 1.0}, "b": {("u", 0): 1.0}}) is None


def test_ratings_count_in_agreement(store):
    report = agreement.annotator_report(store)
    assert report["alpha"] == {"rankings": None, "ratings": None} and report["annotators"] == []
    p = store.add_prompt("Q")
    answers = [store.add_response(p, f"a{i}", "base") for i in range(10)]
    for annotator, row in zip("ab", EXAMPLE_A):
        for i, (rid, value) in enumerate(zip(answers, row)):
            store.db["ratings"].insert({"prompt_id": p, "response_id": rid, "label": 1 - value,
                                        "annotator": annotator, "created": f"2026-01-01T10:{i:02d}:00+00:00"})
    report = agreement.annotator_report(store)
    assert report["alpha"]["ratings"] == pytest.approx(0.095, abs=5e-4)
    assert report["alpha"]["rankings"] is None
    assert report["pairs"] == [{"kind": "ratings", "a": "a", "b": "b", "shared": 10,
                                "alpha": pytest.approx(0.095, abs=5e-4)}]
    a = report["annotators"][0]
    assert (a["name"], a["ratings"], a["rankings"]) == ("a", 10, 0)
    assert a["labels_per_hour"] == pytest.approx(60.0)  # one a minute


def test_rankings_alpha_by_hand(store):
    ids = []
    for i in range(4):
        p = store.add_prompt(f"Q{i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"a{i}{j}", "base") for j in range(2)]))
    for c in ids[:3]:
        store.add_ranking(c, [[0], [1]], "a")
    store.add_ranking(ids[0], [[0], [1]], "b")
    store.add_ranking(ids[1], [[0], [1]], "b")
    store.add_ranking(ids[2], [[1], [0]], "b")
    store.add_ranking(ids[3], [], "b", status="skip")  # gives no unit
    store.add_ranking(ids[3], [[0], [1]], "c")
    # a vs b: 6 units, values 0 and 1 six times each, 2 disagreeing units:
    # alpha = 1 - (n - 1) * o01 / (n0 * n1) = 1 - 11 * 2 / 36 = 7/18
    report = agreement.annotator_report(store)
    ab = next(r for r in report["pairs"] if (r["a"], r["b"]) == ("a", "b"))
    assert ab["shared"] == 3 and ab["alpha"] == pytest.approx(7 / 18)
    bc = next(r for r in report["pairs"] if (r["a"], r["b"]) == ("b", "c"))
    assert bc == {"kind": "rankings", "a": "b", "b": "c", "shared": 0, "alpha": None}
    assert report["alpha"]["rankings"] == pytest.approx(7 / 18)  # c shares nothing with anyone
    assert {a["name"]: a["rankings"] for a in report["annotators"]} == {"a": 3, "b": 4, "c": 1}


def _two_way(store, n: int) -> list[int]:
    ids = []
    for i in range(n):
        p = store.add_prompt(f"Q{i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"a{i}{j}", "base") for j in range(2)]))
    return ids


def test_machine_labellers_stay_out_of_the_alpha_between_people(store):
    ids = _two_way(store, 4)
    for c, order in zip(ids, [[[0], [1]]] * 3):
        store.add_ranking(c, order, "a")
    for c, order in zip(ids, [[[0], [1]], [[0], [1]], [[1], [0]]]):
        store.add_ranking(c, order, "b")
    for c in ids:  # a rule that disagrees with "a" everywhere
        store.add_ranking(c, [[1], [0]], "rule:shorter")
    store.add_ranking(ids[3], [[1], [0]], "ai:be brief")
    report = agreement.annotator_report(store)
    assert report["alpha"]["rankings"] == pytest.approx(7 / 18)  # as in test_rankings_alpha_by_hand: people only
    assert [(r["a"], r["b"]) for r in report["pairs"]] == [("a", "b")]
    assert [a["name"] for a in report["annotators"]] == ["a", "b"]
    # rule vs a: 3 comparisons, all 6 units disagree: 1 - 11 * 6 / (6 * 6) = -5/6
    # rule vs b: 4 of 6 units disagree: 1 - 11 * 4 / 36 = -2/9; ai:be brief shares nothing with a person
    assert report["machines"] == [
        {"kind": "rankings", "a": "rule:shorter", "b": "a", "shared": 3, "alpha": pytest.approx(-5 / 6)},
        {"kind": "rankings", "a": "rule:shorter", "b": "b", "shared": 3, "alpha": pytest.approx(-2 / 9)}]


def test_rankings_and_ratings_get_their_own_alpha(store):
    """Places 0..K-1 and ratings 0/1 are different scales: each kind has its own alpha and its own pair rows."""
    ids = _two_way(store, 2)
    for annotator in "ab":
        store.add_ranking(ids[0], [[0], [1]], annotator)
        store.add_ranking(ids[1], [[0], [1]], annotator)
    c = store.comparison(ids[0])
    for annotator, labels in (("a", [1, 0]), ("b", [0, 1])):
        for rid, label in zip(c.response_ids, labels):
            store.db["ratings"].insert({"prompt_id": c.prompt_id, "response_id": rid, "label": label,
                                        "annotator": annotator, "created": "2026-01-01T10:00:00+00:00"})
    report = agreement.annotator_report(store)
    # rankings agree fully; ratings: 2 units, both disagree: 1 - 3 * 2 / (2 * 2) = -0.5
    assert report["alpha"] == {"rankings": pytest.approx(1.0), "ratings": pytest.approx(-0.5)}
    assert [(r["kind"], r["shared"], r["alpha"]) for r in report["pairs"]] == [
        ("rankings", 2, pytest.approx(1.0)), ("ratings", 2, pytest.approx(-0.5))]


def test_alpha_between_people_is_ordinal_on_three_way_rankings(store):
    """Two 3-way rankings: places (0,1,2) vs (1,0,2), then (0,1,2) vs (2,1,0). Coincidences o01 = o02 = 2,
    o11 = o22 = 2, n0 = n1 = n2 = 4, n = 12. Ordinal: d01 = d12 = (4 + 4 - 4)^2 = 16, d02 = (12 - 4)^2 = 64,
    alpha = 1 - 11 * (2*16 + 2*64) / (16*16 + 16*64 + 16*16) = -7/48; nominal would give 1 - 11 * 4 / 48 = 1/12."""
    ids = []
    for i in range(2):
        p = store.add_prompt(f"Q{i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"a{i}{j}", "base") for j in range(3)]))
    store.add_ranking(ids[0], [[0], [1], [2]], "a")
    store.add_ranking(ids[1], [[0], [1], [2]], "a")
    store.add_ranking(ids[0], [[1], [0], [2]], "b")
    store.add_ranking(ids[1], [[2], [1], [0]], "b")
    report = agreement.annotator_report(store)
    assert report["alpha"]["rankings"] == pytest.approx(-7 / 48)
    assert report["pairs"][0]["alpha"] == pytest.approx(-7 / 48)
    assert agreement.alpha(agreement.ranking_labels(store), "nominal") == pytest.approx(1 / 12)


def test_self_consistency_and_agreement_with_the_reward_model(store):
    ids = []
    for i in range(4):
        p = store.add_prompt(f"Q{i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"a{i}{j}", "base") for j in range(3)]))
    run = store.create_run("reward", {})
    store.update_run(run, status="finished")
    # the model guessed answer 2, 0, 1 for the first three (made while they were unranked)
    active.save_guesses(store, run, [Guess(c, run, 0.3, 0.1, probs, False, "bootstrap") for c, probs in
                                     zip(ids, [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])])
    store.add_ranking(ids[0], [[2], [0], [1]], "a")      # agrees
    store.add_ranking(ids[1], [[1, 0], [2]], "a")        # agrees (0 in the best group)
    store.add_ranking(ids[2], [[0], [1], [2]], "a")      # disagrees
    store.add_ranking(ids[3], [[0, 1, 2]], "a")          # a full tie picks no best: left out
    active.add_repeat(store, Repeat(store.comparison(ids[0]), [2, 1, 0]), [[0], [1], [2]], "a")  # same best
    active.add_repeat(store, Repeat(store.comparison(ids[2]), [1, 0, 2]), [[0], [1], [2]], "a")  # best was 0, now 1
    a = agreement.annotator_report(store)["annotators"][0]
    assert (a["self_consistency"], a["self_repeats"]) == (0.5, 2)
    assert (a["reward_model_agreement"], a["reward_model_n"]) == (pytest.approx(2 / 3), 3)
    assert a["repeats"] == 2 and a["rankings"] == 4


def test_self_consistency_counts_rating_repeats_with_ranking_repeats(store):
    ratings = Ratings(store)
    p = store.add_prompt("Q")
    answers = [store.add_response(p, f"a{i}", "base") for i in range(4)]
    c = store.add_comparison(p, answers[:2])
    store.add_ranking(c, [[1], [0]], "a")
    active.add_repeat(store, Repeat(store.comparison(c), [1, 0]), [[0], [1]], "a")  # best is answer 1 again
    for rid, good in zip(answers, [True, True, False, False]):
        ratings.add(rid, good, "a")
    ratings.add(answers[0], False, "b")
    active.add_rating_repeat(store, answers[0], True, "a")   # same as before
    active.add_rating_repeat(store, answers[1], False, "a")  # was good
    active.add_rating_repeat(store, answers[2], False, "a")  # same
    active.add_rating_repeat(store, answers[0], True, "b")   # was bad
    active.add_rating_repeat(store, answers[3], True, "b")   # b never rated it: no first answer, left out
    by_name = {a["name"]: a for a in agreement.annotator_report(store)["annotators"]}
    # a: ranking repeat same, ratings same, different, same -> 3 of 4; b: 0 of 1
    assert (by_name["a"]["self_consistency"], by_name["a"]["self_repeats"]) == (0.75, 4)
    assert (by_name["b"]["self_consistency"], by_name["b"]["self_repeats"]) == (0.0, 1)
    assert (by_name["a"]["repeats"], by_name["b"]["repeats"]) == (4, 2)


def test_labels_per_hour_leaves_out_long_pauses():
    times = ["2026-01-01T10:00:00+00:00", "2026-01-01T10:00:30+00:00", "2026-01-01T10:01:00+00:00",
             "2026-01-01T12:00:00+00:00"]  # 2 labels in 60 s, then a 2-hour pause counted as 300 s
    assert agreement.labels_per_hour(times) == pytest.approx(3 / 360 * 3600)
    assert agreement.labels_per_hour(times[:1]) is None
