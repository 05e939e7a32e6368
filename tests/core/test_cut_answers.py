"""Whether an answer was cut mid-sentence: what counts as a sentence end, the stored flag, and older projects."""
import pytest

from studio.core import migrations
from studio.core.answer_length import ends_sentence
from studio.core.store import Store


@pytest.mark.parametrize(("text", "ends"), [
    ("The sky is blue.", True), ("Really?", True), ("Stop!  ", True), ('He said "go."', True), ("(It is.)", True),
    ("Wait…", True), ("...creating a throat", False), ("Steps:\n1.", False), ("It costs 3.", False),
    ("Here is a list:", False), ("", False)])
def test_a_sentence_ends_at_a_full_stop_not_at_a_list_number(text, ends):
    assert ends_sentence(text) is ends


def test_the_flag_is_stored_and_the_cut_ones_say_their_limit(store):
    prompt = store.add_prompt("Q")
    cut = store.add_response(prompt, "...creating a throat", "base", {"max_new_tokens": 48, "finish_margin": 16},
                             cut=True)
    whole = store.add_response(prompt, "Done.", "base", {"max_new_tokens": 48, "finish_margin": 16}, cut=False)
    imported = store.add_response(prompt, "Imported.", "imported")
    assert [r.cut for r in store.responses()] == [True, False, None]
    assert store.cut_at([cut, whole, imported]) == {cut: 64}
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
