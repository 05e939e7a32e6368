"""Reward terms: each rule's score of one answer against hand values (boundaries included), the term syntax and its
one-line refusals, reference answers imported with the prompts and kept apart from the prompt text."""
import pytest

from studio.core.import_export import import_prompts
from studio.core.jsonl import JsonlError
from studio.core.reward_terms import Term, is_default, parse_term, parse_terms, terms_for_run, uses_reward_model
from studio.core.store import Store


def rule(text: str) -> Term:
    return parse_term(f"rule:{text}")


@pytest.mark.parametrize("text, answer, expected", [
    ("shorter:4", "abcd", 1.0),          # the target exactly met
    ("shorter:4", "abcde", 4 / 5),
    ("shorter:target=4", "abcdefgh", 0.5),
    ("shorter:4", "", 1.0),
    ("longer:4", "abcd", 1.0),           # the target exactly met
    ("longer:4", "abc", 3 / 4),
    ("longer:4", "", 0.0),
    ("contains:Paris", "it is paris.", 1.0),
    ("contains:Paris", "it is Rome.", 0.0),
    ("avoids:sorry", "Sorry, no.", 0.0),
    ("avoids:sorry", "Yes.", 1.0),
    ("regex:^\\d+$", "42", 1.0),
    ("regex:^\\d+$", "42 apples", 0.0),
    ("json", ' {"a": [1, 2]} \n', 1.0),
    ("json", "3", 1.0),
    ("json", "{'a': 1}", 0.0),
    ("json", '{"a": 1', 0.0),
    ("json", "", 0.0),
])
def test_rules_without_a_reference_score_answers_as_by_hand(text, answer, expected):
    assert rule(text).score(answer) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("text, answer, reference, expected", [
    ("number", "3.0", "3", 1.0),
    ("number", "3", "3.0", 1.0),
    ("number", "The answer is 1,234.", "1234", 1.0),
    ("number", "first 7, then 8", "8", 1.0),       # the last number written
    ("number", "first 8, then 7", "8", 0.0),
    ("number", "-2", "2", 0.0),
    ("number", "2.5e1", "25", 1.0),
    ("number", "no number", "3", 0.0),
    ("number", "3.0001", "3", 0.0),
    ("matches", "  Paris\n", "paris", 1.0),
    ("matches", "Paris, France", "paris", 0.0),
    ("matches", "New   York", "new york", 1.0),
])
def test_rules_against_the_reference_answer(text, answer, reference, expected):
    assert rule(text).score(answer, reference) == expected


def test_the_term_syntax_reads_weights_sources_and_patterns_with_stars():
    assert parse_term("rm") == Term("rm")
    assert parse_term("0.5*rm") == Term("rm", weight=0.5)
    assert parse_term("-2*rule:avoids:sorry") == Term("rule", "avoids", "sorry", -2.0)
    assert parse_term("rule:regex:a*b") == Term("rule", "regex", "a*b")  # a star in a pattern is no weight
    assert parse_term("3*rule:regex:^a*$").argument == "^a*$"
    assert parse_term(" 2*rule:NUMBER ") == Term("rule", "number", "", 2.0)
    assert [t.name for t in parse_terms(["rm", "rule:shorter:20", "rule:number"])] == \
        ["reward_model", "shorter:20", "number"]
    assert [t.text for t in parse_terms(["0.5*rm", "1*rule:json"])] == ["0.5*rm", "rule:json"]
    assert is_default(parse_terms(None)) and is_default(parse_terms(["1*rm"])) and not is_default(parse_terms(["2*rm"]))
    assert uses_reward_model(parse_terms(None)) and not uses_reward_model(parse_terms(["rule:json"]))


@pytest.mark.parametrize("text, message", [
    ("rule:regex:(", "the regular expression '(' is invalid"),
    ("x*rule:json", "the weight 'x' of reward term 'x*rule:json' is not a number"),
    ("inf*rm", "must be a finite number"),
    ("rule:shorter", "needs a target length of at least 1 character"),
    ("rule:longer:ten", "needs a target length"),
    ("rule:shorter:0", "needs a target length"),
    ("rule:contains", "needs a phrase or pattern"),
    ("rule:json:strict", "the rule json takes no argument"),
    ("rule:louder", "unknown rule 'louder'"),
    ("critic:be kind", "cannot read the reward term 'critic:be kind'"),
    ("file:score", "give --reward-file PATH.py:score again"),
])
def test_a_bad_term_is_one_clear_line(text, message):
    with pytest.raises(ValueError, match=None) as caught:
        parse_terms([text])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_term_given_twice_is_refused():
    with pytest.raises(ValueError, match="rule reward_model|reward term reward_model is given twice"):
        parse_terms(["rm", "2*rm"])


def test_reference_answers_are_imported_with_their_prompts_and_checked_before_a_run(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "1+2?", "answer": 3}\n{"prompt": "Capital of France?", "answer": " Paris "}\n'
                    '{"prompt": "Say hi"}\n', encoding="utf-8")
    with Store(None) as store:
        assert import_prompts(store, path) == 3
        assert {p.text: p.answer for p in store.prompts()} == {"1+2?": "3", "Capital of France?": "Paris",
                                                                "Say hi": None}
        assert terms_for_run(store, ["rule:shorter:20"])  # needs no reference
        with pytest.raises(ValueError, match="needs a reference answer for every prompt, and 1 of 3 have none"):
            terms_for_run(store, ["rule:matches"])
        store.set_prompt_answer(store.add_prompt("Say hi"), "hi")
        with pytest.raises(ValueError, match="holds none"):  # 'Paris' and 'hi' are no numbers
            terms_for_run(store, ["rule:number"])
        assert [t.name for t in terms_for_run(store, ["rule:matches"])] == ["matches"]


def test_an_import_never_replaces_a_stored_answer(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"prompt": "1+2?", "answer": "3"}\n', encoding="utf-8")
    second.write_text('{"prompt": "new one"}\n{"prompt": "1+2?", "answer": "4"}\n', encoding="utf-8")
    with Store(None) as store:
        import_prompts(store, first)
        with pytest.raises(JsonlError, match="line 2: the prompt already has the reference answer '3'"):
            import_prompts(store, second)
        assert [(p.text, p.answer) for p in store.prompts()] == [("1+2?", "3")]  # all or nothing
        import_prompts(store, first)  # the same answer again changes nothing
        assert [(p.text, p.answer) for p in store.prompts()] == [("1+2?", "3")]


def test_a_judge_term_needs_a_principle_and_one_answer_runs_need_references():
    assert parse_term("0.5*judge: be brief ") == Term("judge", "be brief", "", 0.5)
    assert parse_term("judge:be brief").name == "judge:be brief"
    with pytest.raises(ValueError, match="needs a principle after judge:"):
        parse_term("judge:")
    with Store(None) as store:
        store.add_prompt("hi")
        assert terms_for_run(store, ["judge:be brief"])  # groups: the other answers
        with pytest.raises(ValueError, match="one answer per prompt: the judge compares with it"):
            terms_for_run(store, ["judge:be brief"], one_answer=True)
