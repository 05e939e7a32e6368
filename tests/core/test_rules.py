import pytest

from studio.core import oversight_store as ov
from studio.core import rules
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


def _store_with(path, answers: list[list[str]]) -> Store:
    store = Store(path)
    for i, texts in enumerate(answers):
        pid = store.add_prompt(f"p{i}")
        store.add_comparison(pid, [store.add_response(pid, t, "base") for t in texts])
    return store


def test_another_connection_can_write_while_the_rule_matches(tmp_path):
    """Matching holds no lock (issue 23, item 6): a write made between two comparisons' matches lands."""
    store = _store_with(tmp_path / "studio.db", [["a1", "b"], ["a2", "bb"], ["a3", "c"]])
    made = []

    def write_meanwhile(done: int, total: int) -> None:
        with Store(tmp_path / "studio.db", timeout=0) as other:  # no patience: a held lock fails at once
            made.append(other.add_prompt(f"written while matching {done}"))

    assert label_with_rule(store, Rule.parse("regex:^a"), progress=write_meanwhile) == (3, 0)
    assert [p.text for p in store.prompts()][3:] == [f"written while matching {i}" for i in (1, 2, 3)]
    assert {r.comparison_id: r.order for r in store.rankings()} == {1: [[0], [1]], 2: [[0], [1]], 3: [[0], [1]]}
    store.close()


def test_a_runaway_regex_is_stopped_with_a_message_and_nothing_is_labelled(tmp_path, monkeypatch):
    monkeypatch.setattr(rules, "MATCH_SECONDS", 0.05)
    store = _store_with(tmp_path / "studio.db", [["xy", "z"], ["x" * 5000, "x"]])
    with pytest.raises(ValueError, match=r"comparison 2: the regular expression .* took over 0.05 s on a "
                                         r"5000-character answer.*nothing was labelled"):
        label_with_rule(store, Rule.parse("regex:(x+x+)+y"))
    assert store.rankings() == []
    store.close()

