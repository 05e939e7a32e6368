"""The AI judge on a tiny model that reaches real verdicts (`tests.judge_model`): each pair read in both orders,
a label stored only when both readings pick the same answer, and the stored ranking the right one."""
import pytest

from studio.core import oversight_store as ov
from studio.core.store import Store
from studio.training.judge import Judge, label_with_judge
from tests.judge_model import CASES, PRINCIPLE, RANKED


def test_left_padded_batch_matches_one_by_one(judge):
    pairs = [("a banana", "a lemon"), ("no fruit", "banana bread"), ("kiwi", "plum")]
    batched = Judge(judge.base, batch_size=3).p_first(PRINCIPLE, "say a fruit", pairs)
    alone = [Judge(judge.base, batch_size=1).p_first(PRINCIPLE, "say a fruit", [p])[0] for p in pairs]
    assert batched == pytest.approx(alone, abs=1e-4)
    assert [p > 0.5 for p in batched] == [True, False, True]  # banana first; banana second; a tie: says "A"


def test_verdicts_follow_the_answer_not_its_position(judge):
    assert judge.verdict(PRINCIPLE, "say a fruit", "a banana", "a lemon")[0] == 0
    for first, second, winner in [("a banana", "a lemon", 0), ("no fruit", "banana bread", 1)]:
        one, two = judge.verdict(PRINCIPLE, "say a fruit", first, second), judge.verdict(
            PRINCIPLE, "say a fruit", second, first)
        assert one[0] == winner and two[0] == 1 - winner
        assert one[1] == pytest.approx(two[1], abs=1e-5) and 0.99 < one[1] <= 1
    # it says "A" in both orders: the pick follows the position, so no verdict
    assert judge.p_first(PRINCIPLE, "say a fruit", [("kiwi", "plum"), ("plum", "kiwi")]) > [0.5, 0.5]
    assert judge.verdict(PRINCIPLE, "say a fruit", "kiwi", "plum") is None


def test_label_with_judge_stores_the_agreeing_rankings_only(judge):
    with Store(None) as store:
        made = []
        for question, answers in CASES:
            pid = store.add_prompt(question)
            made.append(store.add_comparison(pid, [store.add_response(pid, t, "base") for t in answers]))
        count = label_with_judge(store, judge, PRINCIPLE)
        labels = {r.comparison_id: r.order for r in store.rankings() if r.annotator == f"ai:{PRINCIPLE}"}
        assert (count.labelled, count.abstained) == (3, 1)
        assert labels == {c: order for c, order in zip(made, RANKED) if order is not None}
        assert len(ov.confidences(store)) == 3 and all(0.99 < c <= 1 for c in ov.confidences(store).values())
        assert [c.id for c in store.unranked_comparisons(f"ai:{PRINCIPLE}")] == [made[2]]
        assert label_with_judge(store, judge, PRINCIPLE).labelled == 0  # nothing left but the abstention
        with pytest.raises(ValueError, match="principle"):
            label_with_judge(store, judge, "  ")
