import pytest

from studio.core import oversight_store as ov
from studio.core.store import Store
from studio.training.judge import Judge, label_with_judge

PRINCIPLE = "prefer the answer that mentions a banana"


def test_left_padded_batch_matches_one_by_one(base):
    pairs = [("a banana", "x"), ("lemon pie with cream", "ok"), ("b", "a much longer answer here")]
    batched = Judge(base, batch_size=3).p_first(PRINCIPLE, "say a fruit", pairs)
    alone = [Judge(base, batch_size=1).p_first(PRINCIPLE, "say a fruit", [p])[0] for p in pairs]
    assert batched == pytest.approx(alone, abs=1e-4)
    assert all(0.0 < p < 1.0 for p in batched)


def test_verdicts_mirror_when_the_answers_swap(base):
    judge = Judge(base)
    for first, second in [("a banana", "a lemon"), ("yes", "no thanks"), ("kiwi", "banana bread")]:
        one, two = judge.verdict(PRINCIPLE, "q", first, second), judge.verdict(PRINCIPLE, "q", second, first)
        assert (one is None) == (two is None)
        if one is not None:
            assert one[0] == 1 - two[0] and one[1] == pytest.approx(two[1], abs=1e-5) and 0.5 < one[1] <= 1


def test_label_with_judge_stores_agreeing_labels_only(base):
    with Store(None) as store:
        for i in range(4):
            pid = store.add_prompt(f"fruit {i}")
            ids = [store.add_response(pid, t, "base") for t in (f"banana {i}", f"lemon {'x' * i}")]
            store.add_comparison(pid, ids)
        count = label_with_judge(store, Judge(base), PRINCIPLE)
        labels = [r for r in store.rankings() if r.annotator == f"ai:{PRINCIPLE}"]
        assert count.labelled == len(labels) and count.labelled + count.abstained == 4
        assert all(0.5 < c <= 1 for c in ov.confidences(store).values())
        assert len(store.unranked_comparisons(f"ai:{PRINCIPLE}")) == count.abstained
        with pytest.raises(ValueError, match="principle"):
            label_with_judge(store, Judge(base), "  ")
