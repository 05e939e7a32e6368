import math
import random

import pytest

from studio.core import active
from studio.core.active import Guess, Repeat
from studio.core.migrations import SCHEMA_VERSION
from studio.core.ratings import Ratings
from studio.core.store import Store


def _comparisons(store: Store, n: int, k: int = 2) -> list[int]:
    ids = []
    for i in range(n):
        p = store.add_prompt(f"prompt {i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"answer {i}.{j}", "base") for j in range(k)]))
    return ids


def _reward_run(store: Store) -> int:
    run = store.create_run("reward", {})
    store.update_run(run, status="finished")
    return run


def test_label_tables_come_with_the_schema(store):
    assert store.schema_version == SCHEMA_VERSION
    assert store.db["rm_guesses"].exists() and store.db["repeats"].exists() and store.db["rating_repeats"].exists()


def test_uncertain_queue_follows_hand_made_scores(store):
    ids = _comparisons(store, 5)
    run = _reward_run(store)
    # (spread, P(first)): the largest spread first; equal spreads by the pairwise entropy (P(first) nearer 1/2)
    hand = {ids[0]: (0.01, 0.9), ids[1]: (0.30, 0.8), ids[2]: (0.10, 0.45), ids[3]: (0.10, 0.2)}
    active.save_guesses(store, run, [Guess(c, run, p, s, [p, 1 - p], s > 0.05, "bootstrap")
                                     for c, (s, p) in hand.items()])
    order = [c.id for c in active.queue(store, "me", "uncertain")]
    assert order == [ids[1], ids[2], ids[3], ids[0], ids[4]]  # unscored last
    assert [c.id for c in active.queue(store, "me", "arrival")] == ids
    assert active.unsure_count(store, "me") == 3
    store.add_ranking(ids[1], [[0], [1]], "me")
    assert active.unsure_count(store, "me") == 2 and active.unsure_count(store, "you") == 3
    with pytest.raises(ValueError, match="queue order"):
        active.queue(store, "me", "random")


def test_only_the_latest_finished_reward_run_orders_the_queue(store):
    ids = _comparisons(store, 2)
    old = _reward_run(store)
    active.save_guesses(store, old, [Guess(ids[1], old, 0.5, 0.4, [0.5, 0.5], True, "bootstrap")])
    new = _reward_run(store)
    active.save_guesses(store, new, [Guess(ids[0], new, 0.5, 0.4, [0.5, 0.5], True, "bootstrap")])
    assert [c.id for c in active.queue(store, None, "uncertain")] == ids
    assert [c.id for c in active.unscored(store, new)] == [ids[1]]


def test_prompts_the_model_is_least_sure_about_come_first(store):
    ids = _comparisons(store, 3)
    fresh = store.add_prompt("never answered")
    run = _reward_run(store)
    active.save_guesses(store, run, [Guess(ids[0], run, 0.5, 0.05, [0.5, 0.5], False, "bootstrap"),
                                     Guess(ids[2], run, 0.5, 0.2, [0.5, 0.5], True, "bootstrap")])
    prompts = store.prompts()
    ordered = [p.id for p in active.prompts_by_uncertainty(store, prompts)]
    by_comparison = {c.id: c.prompt_id for c in store.comparisons()}
    assert ordered == [by_comparison[ids[1]], fresh, by_comparison[ids[2]], by_comparison[ids[0]]]


def test_repeats_come_back_shuffled_every_twentieth_decision_and_map_back(store):
    ids = _comparisons(store, 30, k=3)
    for c in ids[:19]:
        store.add_ranking(c, [[0], [1], [2]], "me")
    assert active.due_repeat(store, "me") is None
    store.add_ranking(ids[19], [[0], [1], [2]], "me")
    repeat = active.due_repeat(store, "me", random.Random(0))
    assert repeat.comparison.id in ids[:10]  # ranked at least REPEAT_AFTER decisions ago
    assert repeat.shown != [0, 1, 2] and sorted(repeat.shown) == [0, 1, 2]
    shown = repeat.on_screen()
    assert shown.responses == [repeat.comparison.responses[i] for i in repeat.shown]
    # the person presses the screen position of stored answer 0 first: stored order comes back [[0], ...]
    screen_best = repeat.shown.index(0)
    rest = [p for p in range(3) if p != screen_best]
    active.add_repeat(store, repeat, [[screen_best], [rest[0]], [rest[1]]], "me")
    row = active.repeats(store)[0]
    assert row["order"][0] == [0] and row["comparison_id"] == repeat.comparison.id
    assert active.due_repeat(store, "me") is None  # 21 decisions: not due


def test_a_comparison_is_repeated_once_per_annotator(store):
    ids = _comparisons(store, 19)
    for c in ids[:11]:
        store.add_ranking(c, [[1], [0]], "me")
    repeat = Repeat(store.comparison(ids[0]), [1, 0])
    active.add_repeat(store, repeat, [[0], [1]], "me")
    assert active.repeats(store)[0]["order"] == [[1], [0]]
    for c in ids[11:]:
        store.add_ranking(c, [[0], [1]], "me")
    # 20 decisions; ranked >= 10 rankings ago: ids[0..8], of which ids[0] was repeated already
    chosen = {active.due_repeat(store, "me", random.Random(seed)).comparison.id for seed in range(40)}
    assert chosen == set(ids[1:9])
    assert active.due_repeat(store, "other") is None
    with pytest.raises(ValueError):
        active.add_repeat(store, repeat, [[0]], "me")


def test_guidelines_round_trip(store):
    assert active.guidelines(store) == ""
    active.set_guidelines(store, "# Prefer\n- short answers")
    assert active.guidelines(store) == "# Prefer\n- short answers"


def test_rating_repeats_come_back_every_twentieth_rating_and_are_stored_apart(store):
    ratings = Ratings(store)
    answers = [r for c in _comparisons(store, 20) for r in store.comparison(c).response_ids]
    for rid in answers[:19]:
        ratings.add(rid, True, "me")
    assert active.due_rating_repeat(store, "me") is None
    ratings.add(answers[19], False, "me")
    # 20 ratings: those rated at least REPEAT_AFTER ratings ago are the first 10
    chosen = {active.due_rating_repeat(store, "me", rng=random.Random(seed)) for seed in range(60)}
    assert chosen == set(answers[:10])
    assert active.due_rating_repeat(store, "me", skip=answers[:9], rng=random.Random(0)) == answers[9]
    assert active.due_rating_repeat(store, "me", skip=answers[:10]) is None
    assert active.due_rating_repeat(store, "other") is None
    repeat_id = active.add_rating_repeat(store, answers[3], False, "me")
    assert [(r["response_id"], r["label"], r["annotator"]) for r in active.rating_repeats(store)] == [
        (answers[3], 0, "me")]
    assert ratings.list("me")[3].label is True and len(ratings.list()) == 20  # the first rating is kept
    assert active.due_rating_repeat(store, "me") is None                      # 21 decisions: not due
    for rid in answers[20:39]:                                                # 40 decisions: due again
        ratings.add(rid, True, "me")
    chosen = {active.due_rating_repeat(store, "me", rng=random.Random(seed)) for seed in range(150)}
    assert chosen == set(answers[:29]) - {answers[3]}                         # repeated once per annotator
    active.delete_rating_repeat(store, repeat_id)
    assert active.rating_repeats(store) == []


def test_uncertain_queue_reads_every_answer_pair(store):
    """One head (spread 0), so the order is the pairwise entropy, summed over the pairs a ranking settles. A uniform
    4-way guess is 6 coin flips (6 ln 2); a 3-way guess split between answers 1 and 2, answer 0 out of the running,
    is one coin flip and two nearly sure pairs; then a 2-way coin flip (ln 2), then a 70/30 pair. Closeness of
    P(first) to 1/2 gave: coin flip, 70/30, 4-way, 3-way."""
    ids = []
    for i, k in enumerate([2, 4, 2, 3]):
        p = store.add_prompt(f"prompt {i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"answer {i}.{j}", "base") for j in range(k)]))
    run = _reward_run(store)
    hand = {ids[0]: [0.7, 0.3], ids[1]: [0.25] * 4, ids[2]: [0.5, 0.5], ids[3]: [0.02, 0.49, 0.49]}
    active.save_guesses(store, run, [Guess(c, run, probs[0], 0.0, probs, False, "margin") for c, probs in hand.items()])
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert active.pairwise_entropy([0.25] * 4) == pytest.approx(6 * math.log(2))
    assert active.pairwise_entropy(hand[ids[3]]) == pytest.approx(2 * h(0.02 / 0.51) + math.log(2))
    assert active.pairwise_entropy(hand[ids[0]]) == pytest.approx(h(0.7))
    assert [c.id for c in active.queue(store, "me", "uncertain")] == [ids[1], ids[3], ids[2], ids[0]]
