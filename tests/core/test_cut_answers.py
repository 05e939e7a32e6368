"""Answers cut mid-sentence: what counts as a sentence end, how far one is cut back, the stored flag, and older
projects."""
import pytest

from studio.core import migrations
from studio.core.answer_length import ends_sentence, whole_sentences
from studio.core.store import Store


@pytest.mark.parametrize(("text", "ends"), [
    ("The sky is blue.", True), ("Really?", True), ("Stop!  ", True), ('He said "go."', True), ("(It is.)", True),
    ("Wait…", True), ("...creating a throat", False), ("Steps:\n1.", False), ("It costs 3.", False),
    ("Here is a list:", False), ("", False)])
def test_a_sentence_ends_at_a_full_stop_not_at_a_list_number(text, ends):
    assert ends_sentence(text) is ends


@pytest.mark.parametrize(("text", "whole"), [
    ("The sky is blue. Light from the sun is scat", None),  # 16 of 43 characters: too little to keep
    ("Light from the sun is scattered by the air. Blue is sc", "Light from the sun is scattered by the air."),
    ('He said "stop." Then he le', 'He said "stop."'), ("One? Two! Three. Fo", "One? Two! Three."),
    ("Steps:\n1. Boil the water\n2. Add", None),  # a list number is no sentence end
    ("It costs 3.50 and more", None), ("No end at all here", None)])
def test_a_cut_answer_ends_at_its_last_whole_sentence_if_that_keeps_half_of_it(text, whole):
    assert whole_sentences(text) == whole


def test_the_flag_is_stored_and_the_cut_ones_say_their_limit(store):
    prompt = store.add_prompt("Q")
    cut = store.add_response(prompt, "...creating a throat", "base", {"max_new_tokens": 48}, cut=True)
    whole = store.add_response(prompt, "Done.", "base", {"max_new_tokens": 48}, cut=False)
    imported = store.add_response(prompt, "Imported.", "imported")
    assert [r.cut for r in store.responses()] == [True, False, None]
    assert store.cut_at([cut, whole, imported]) == {cut: 48}
    assert store.cut_at([whole]) == {}


def test_answers_of_an_older_project_are_not_known_to_be_cut(tmp_path, monkeypatch):
    path = tmp_path / "studio.db"
    with monkeypatch.context() as older:
        older.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:-1])
        older.setattr(migrations, "SCHEMA_VERSION", migrations.SCHEMA_VERSION - 1)
        with Store(path) as s, s.transaction():  # as the older version wrote it: no cut column yet
            s.db.execute("INSERT INTO responses (prompt_id, text, policy, settings, created) VALUES "
                         "(?, 'an old answer', 'base', '{\"max_new_tokens\": 48}', '2026-01-01')",
                         [s.add_prompt("Q")])
    with Store(path) as s:
        assert s.schema_version == migrations.SCHEMA_VERSION
        [old] = s.responses()
        assert old.cut is None and s.cut_at([old.id]) == {}
        new = s.add_response(old.prompt_id, "cut off mid", "base", {"max_new_tokens": 48}, cut=True)
        assert s.cut_at([old.id, new]) == {new: 48}
