import pytest

from studio.core import oversight_store as ov
from studio.core.rules import Rule, label_with_rule
from studio.core.store import Store


def test_parse_and_clear_errors():
    assert Rule.parse(" contains:Banana ") == Rule("contains", "Banana")
    assert Rule.parse("LONGER").annotator == "rule:longer"
    assert Rule.parse("regex:^\\d+").annotator == "rule:regex:^\\d+"
    for bad, message in [("bigger", "unknown rule"), ("contains:", "needs a phrase"), ("regex:(", "invalid")]:
        with pytest.raises(ValueError, match=message):
            Rule.parse(bad)


@pytest.mark.parametrize("rule, texts, order", [
    ("longer", ["ab", "abcd", "a"], [[1], [0], [2]]),
    ("shorter", ["ab", "abcd", "a"], [[2], [0], [1]]),
    ("contains:banana", ["a Banana!", "lemon", "banana split"], [[0, 2], [1]]),
    ("avoids:sorry", ["Sorry, no", "sure"], [[1], [0]]),
    ("regex:\\d{3}", ["call 555", "call me"], [[0], [1]]),
    ("contains:kiwi", ["a", "b"], None),
    ("longer", ["ab", "cd"], None),
])
def test_orders(rule, texts, order):
    assert Rule.parse(rule).order(texts) == order


def test_label_with_rule_stores_confident_labels_and_skips_ties_and_done_ones():
    with Store(None) as store:
        made = []
        for prompt, texts in [("p1", ["short", "much longer"]), ("p2", ["same", "size"]), ("p3", ["x", "yy", "z"])]:
            pid = store.add_prompt(prompt)
            made.append(store.add_comparison(pid, [store.add_response(pid, t, "base") for t in texts]))
        store.add_ranking(made[0], [[0], [1]], "me")   # a human label does not stop the rule
        assert label_with_rule(store, Rule.parse("longer")) == (2, 1)
        rule_rankings = {r.comparison_id: r.order for r in store.rankings() if r.annotator == "rule:longer"}
        assert rule_rankings == {made[0]: [[1], [0]], made[2]: [[1], [0, 2]]}
        assert set(ov.confidences(store).values()) == {1.0}
        assert label_with_rule(store, Rule.parse("longer")) == (0, 1)   # only the tie is left to look at
