import json
import sqlite3

import pytest

from studio.core.import_export import export_prefs
from studio.core.jsonl import JsonlError
from studio.core.migrations import SCHEMA_VERSION
from studio.core.ratings import Ratings, export_ratings, import_ratings, kto_weight_advice
from studio.core.store import Store

ROWS = [
    {"prompt": "Capital of France?", "completion": "Paris.", "label": True},
    {"prompt": "Capital of France?", "completion": "Lyon, I think 🤔", "label": False},
    {"prompt": "Ünïcode\nnewline", "completion": "a\u2028b \"quoted\"", "label": True},
]


def write(tmp_path, rows, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def answers(store) -> list[int]:
    """Four answers ("a".."d") to the prompt "Q", and one ("z") to "P"."""
    q, p = store.add_prompt("Q"), store.add_prompt("P")
    return [store.add_response(q, text, "base") for text in "abcd"] + [store.add_response(p, "z", "base")]


def test_ratings_table_has_the_agreed_columns(tmp_path):
    with Store(tmp_path / "s.db") as s:
        assert s.schema_version == SCHEMA_VERSION
    columns = [row[1] for row in sqlite3.connect(tmp_path / "s.db").execute("PRAGMA table_info(ratings)")]
    assert columns == ["id", "prompt_id", "response_id", "label", "annotator", "created"]


def test_add_replace_delete_list(store, answers):
    ratings = Ratings(store)
    first = ratings.add(answers[0], True, "ann")
    ratings.add(answers[1], False, "ann")
    ratings.add(answers[0], False, "bob")
    again = ratings.add(answers[0], False, "ann")  # the same annotator changes their mind: replaced
    assert again > first
    rows = ratings.list()
    assert [(r.response_id, r.label, r.annotator) for r in rows] == [
        (answers[1], False, "ann"), (answers[0], False, "bob"), (answers[0], False, "ann")]
    assert rows[0].prompt_id == store.responses()[0].prompt_id and rows[0].created
    assert [r.annotator for r in ratings.list("bob")] == ["bob"]
    gone = ratings.delete(again)
    assert gone.id == again and again not in [r.id for r in ratings.list()]
    assert ratings.counts() == {"ratings": 2, "rated_good": 0, "rated_bad": 2, "rating_pairs": 0}


def test_bad_ratings_are_refused(store, answers):
    ratings = Ratings(store)
    with pytest.raises(LookupError, match="no response with id 99"):
        ratings.add(99, True)
    with pytest.raises(ValueError, match="True .good. or False"):
        ratings.add(answers[0], 1)
    with pytest.raises(ValueError, match="annotator"):
        ratings.add(answers[0], True, " ")
    with pytest.raises(LookupError, match="no rating"):
        ratings.delete(5)
    assert ratings.list() == []


def test_unrated_leaves_out_rated_and_skipped_answers(store, answers):
    ratings = Ratings(store)
    ratings.add(answers[0], True, "ann")
    ratings.add(answers[1], True, "bob")
    todo = ratings.unrated("ann", skip=[answers[2]])
    assert [t.response_id for t in todo] == [answers[1], answers[3], answers[4]]
    assert (todo[0].prompt, todo[0].response) == ("Q", "b")
    assert [t.response_id for t in ratings.unrated("ann", limit=1)] == [answers[1]]
    assert ratings.count_unrated("ann") == 4


def test_liked_and_disliked_answers_give_pairs_sharing_weight_one(store, answers):
    ratings = Ratings(store)
    for response, good in zip(answers[:3], [True, False, False]):
        ratings.add(response, good, "ann")
    ratings.add(answers[3], True, "bob")  # bob liked one and disliked none: no pair
    ratings.add(answers[4], False, "ann")  # another prompt: never paired with "Q"'s answers
    pairs = ratings.pairs()
    assert [(p.prompt, p.chosen, p.rejected, p.weight, p.comparison_id) for p in pairs] == [
        ("Q", "a", "b", 0.5, None), ("Q", "a", "c", 0.5, None)]
    ratings.add(answers[1], True, "bob")
    ratings.add(answers[2], False, "bob")  # bob: liked d and b, disliked c: two pairs of weight 1/2
    by_bob = [(p.chosen, p.rejected, p.weight) for p in ratings.pairs()[2:]]
    assert sorted(by_bob) == [("b", "c", 0.5), ("d", "c", 0.5)]
    assert ratings.counts()["rating_pairs"] == 4


def test_rating_pairs_are_exported_with_the_ranking_pairs(store, answers, tmp_path):
    ratings = Ratings(store)
    ratings.add(answers[0], True)
    ratings.add(answers[1], False)
    assert export_prefs(store, tmp_path / "prefs.jsonl") == 1
    assert json.loads((tmp_path / "prefs.jsonl").read_text()) == {"prompt": "Q", "chosen": "a", "rejected": "b"}


def test_import_export_round_trip_byte_for_byte(store, tmp_path):
    src = write(tmp_path, ROWS)
    assert import_ratings(store, src) == 3
    assert export_ratings(store, tmp_path / "out.jsonl") == 3
    assert (tmp_path / "out.jsonl").read_bytes() == src.read_bytes()
    assert {r.annotator for r in Ratings(store).list()} == {"import"}
    assert import_ratings(store, src) == 3  # a second import reuses the answers and replaces the ratings
    assert len(store.responses()) == 3 and len(Ratings(store).list()) == 3
    assert [p.chosen for p in Ratings(store).pairs()] == ["Paris."]


def test_import_keeps_an_annotator_and_reuses_a_stored_answer(store, answers, tmp_path):
    import_ratings(store, write(tmp_path, [{"prompt": "Q", "completion": "b", "label": False, "annotator": "eve"}]))
    [rating] = Ratings(store).list()
    assert (rating.response_id, rating.label, rating.annotator) == (answers[1], False, "eve")


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "p", "completion": "c", "label": 1}', '"label" must be true or false'),
    ('{"prompt": "p", "completion": "c", "label": "true"}', '"label" must be true or false'),
    ('{"prompt": "p", "completion": "c"}', 'missing key "label"'),
    ('{"prompt": "p", "completion": "", "label": true}', '"completion" is empty'),
    ('{"prompt": "p", "chosen": "c", "rejected": "d"}', 'missing key "label"'),
    ('{"prompt": "p", "completion": "c", "label": true, "annotator": 3}', '"annotator" must be a string'),
    ('["p", "c", true]', "expected a JSON object"),
    ('{"prompt": "p", "completion": "c", "label": tru}', "not valid JSON"),
])
def test_a_bad_line_is_named_and_nothing_is_imported(store, tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(JsonlError, match=message) as err:
        import_ratings(store, path)
    assert err.value.line == 3
    assert store.prompts() == [] and Ratings(store).list() == []


def test_item_shows_one_answer_with_its_prompt(store, answers):
    item = Ratings(store).item(answers[4])
    assert (item.response_id, item.prompt, item.response) == (answers[4], "P", "z")
    with pytest.raises(LookupError, match="no response with id 99"):
        Ratings(store).item(99)


def test_kto_weight_advice_follows_trl_bounds():
    """desirable_weight x good must be 1 to 1.33 times undesirable_weight x bad (TRL's KTOTrainer check)."""
    assert kto_weight_advice(10, 10) is None and kto_weight_advice(0, 5) is None
    assert kto_weight_advice(12, 30) == ("12 answers rated good and 30 bad: for KTO set desirable_weight to "
                                         "2.50-3.33 or undesirable_weight to 0.30-0.40 (not both)")
    assert kto_weight_advice(12, 30, desirable_weight=3.0) is None  # 3 * 12 / 30 = 1.2
    assert kto_weight_advice(12, 30, undesirable_weight=0.35) is None
    assert kto_weight_advice(12, 30, desirable_weight=3.4) is not None  # 1.36: over 4/3
    assert "desirable_weight to 0.40-0.53" in kto_weight_advice(30, 12)
