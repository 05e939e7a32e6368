"""What the AI judge stores, checked against its own readings on the tiny model that reaches real verdicts
(`tests.judge_model`): each label's confidence is the lowest of its pairs' verdicts (not 1, not the highest), under
the principle's own annotator, on the comparison it judged; an abstention stores nothing."""
import pytest

from studio.core import oversight_store as ov
from studio.core.ai_feedback import combine_orders, rank_by_pairs
from studio.core.store import Store
from studio.training.judge import label_with_judge
from tests.judge_model import CASES, PRINCIPLE


def test_a_ranking_carries_its_least_sure_pair_and_wins_go_to_the_picked_answer():
    verdicts = {(0, 1): (1, 0.9), (0, 2): (1, 0.6), (1, 2): (0, 0.8)}
    assert rank_by_pairs(3, lambda i, j: verdicts[i, j]) == ([[1], [2], [0]], 0.6)
    cycle = {(0, 1): (0, 0.7), (0, 2): (1, 0.9), (1, 2): (0, 0.95)}  # 0 > 1 > 2 > 0: equal wins, one tie
    assert rank_by_pairs(3, lambda i, j: cycle[i, j]) == ([[0, 1, 2]], 0.7)
    assert rank_by_pairs(3, lambda i, j: None if (i, j) == (1, 2) else verdicts[i, j]) is None


def test_a_reading_of_exactly_one_half_is_no_verdict():
    assert combine_orders(0.5, 0.2) is None and combine_orders(0.9, 0.5) is None
    assert combine_orders(0.8, 0.4) == (0, pytest.approx(0.7)) and combine_orders(0.3, 0.9) == (1, pytest.approx(0.8))


def test_stored_labels_carry_the_judges_own_confidence_and_annotator(judge):
    with Store(None) as store:
        made = {}
        for question, answers in reversed(CASES):  # ids in another order than CASES
            pid = store.add_prompt(question)
            made[store.add_comparison(pid, [store.add_response(pid, t, "base") for t in answers])] = (question, answers)
        label_with_judge(store, judge, PRINCIPLE)
        stored = {r.comparison_id: r for r in store.rankings()}
        confidence = ov.confidences(store)
        for comparison_id, (question, answers) in made.items():
            expected = judge.rank(PRINCIPLE, question, answers)
            if expected is None:
                assert comparison_id not in stored
                continue
            ranking = stored[comparison_id]
            assert ranking.annotator == f"ai:{PRINCIPLE}" and ranking.order == expected[0]
            assert confidence[ranking.id] == pytest.approx(expected[1], abs=1e-6) and confidence[ranking.id] < 1
        lowest = min(judge.verdict(PRINCIPLE, "name a snack", *pair)[1]
                     for pair in [("toast", "banana split"), ("toast", "banana banana cake"),
                                  ("banana split", "banana banana cake")])
        snack = next(c for c, (q, _) in made.items() if q == "name a snack")
        assert confidence[stored[snack].id] == pytest.approx(lowest, abs=1e-6)
