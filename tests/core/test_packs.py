import shutil
from pathlib import Path

import pytest

from studio.core import active, packs
from studio.core.packs import PackError
from studio.core.project import Project
from studio.core.ratings import Ratings


def _project(root, n: int = 4) -> Project:
    project = Project.init(root)
    store = project.store
    for i in range(n):
        p = store.add_prompt(f"prompt {i}")
        store.add_comparison(p, [store.add_response(p, f"answer {i}.{j}", "base") for j in range(3)])
    return project


def test_round_trip_keeps_annotators_and_imports_each_label_once(tmp_path):
    home = _project(tmp_path / "home", 5)
    store = home.store
    first = store.comparisons()[0].id
    store.add_ranking(first, [[0], [1], [2]], "me")          # already ranked: not packed
    active.set_guidelines(store, "Prefer short answers.")
    pack_file = tmp_path / "away.pack"
    assert packs.export_pack(store, pack_file, count=3).comparisons == 3

    with packs.open_pack(pack_file) as pack:                  # on the other laptop: no project, no model
        assert active.guidelines(pack) == "Prefer short answers."
        packed = pack.comparisons()
        assert [c.prompt for c in packed] == ["prompt 1", "prompt 2", "prompt 3"]
        pack.add_ranking(packed[0].id, [[2], [0, 1]], "ann")
        pack.add_ranking(packed[1].id, [], "bob", status="skip")
        pack.add_ranking(packed[0].id, [[1], [0], [2]], "bob")
    assert not list(tmp_path.glob("away.pack-wal"))           # one self-contained file

    result = packs.import_pack(store, pack_file)
    assert (result.rankings, result.skipped) == (3, 0)
    by_prompt = {c.id: c.prompt for c in store.comparisons()}
    got = sorted((by_prompt[r.comparison_id], r.annotator, r.status, r.order) for r in store.rankings())
    assert got == [("prompt 0", "me", "ranked", [[0], [1], [2]]), ("prompt 1", "ann", "ranked", [[2], [0, 1]]),
                   ("prompt 1", "bob", "ranked", [[1], [0], [2]]), ("prompt 2", "bob", "skip", [])]
    again = packs.import_pack(store, pack_file)
    assert (again.rankings, again.skipped) == (0, 3) and len(store.rankings()) == 4

    other = _project(tmp_path / "other", 5)                   # same texts, another project
    with pytest.raises(PackError, match="another project"):
        packs.import_pack(other.store, pack_file)
    assert other.store.rankings() == []


def test_a_newer_label_at_home_is_kept(tmp_path):
    home = _project(tmp_path / "home", 2)
    pack_file = tmp_path / "p.pack"
    packs.export_pack(home.store, pack_file)
    with packs.open_pack(pack_file) as pack:
        pack.add_ranking(pack.comparisons()[0].id, [[0], [1], [2]], "ann")
        pack.db.execute("UPDATE rankings SET created = '2000-01-01T00:00:00+00:00'")
    c = home.store.comparisons()[0].id
    home.store.add_ranking(c, [[2], [1], [0]], "ann")
    assert packs.import_pack(home.store, pack_file).skipped == 1
    assert home.store.rankings(c)[0].order == [[2], [1], [0]]


def test_edited_answers_are_refused_with_one_line(tmp_path):
    home = _project(tmp_path / "home")
    pack_file = tmp_path / "p.pack"
    packs.export_pack(home.store, pack_file)
    with packs.open_pack(pack_file) as pack:
        pack.add_ranking(pack.comparisons()[1].id, [[0], [1], [2]], "ann")
        pack.db.execute("UPDATE responses SET text = 'a better answer' WHERE id = 4")
        pack.db.conn.commit()
    with pytest.raises(PackError, match="tampered with: comparison 2") as err:
        packs.import_pack(home.store, pack_file)
    assert "\n" not in str(err.value) and home.store.rankings() == []


def test_truncated_foreign_and_missing_packs_are_refused(tmp_path):
    home = _project(tmp_path / "home", 30)
    pack_file = tmp_path / "p.pack"
    packs.export_pack(home.store, pack_file)
    data = pack_file.read_bytes()
    cut = tmp_path / "cut.pack"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(PackError, match="damaged"):
        packs.import_pack(home.store, cut)
    shutil.copy(home.db_path, tmp_path / "not-a-pack.db")
    with pytest.raises(PackError, match="no pack information"):
        packs.import_pack(home.store, tmp_path / "not-a-pack.db")
    with pytest.raises(PackError, match="does not exist"):
        packs.import_pack(home.store, tmp_path / "nope.pack")
    assert home.store.rankings() == []


def test_nothing_to_pack(tmp_path):
    home = _project(tmp_path / "home", 1)
    c = home.store.comparisons()[0]
    home.store.add_ranking(c.id, [], "me", status="skip")
    assert packs.export_pack(home.store, tmp_path / "rate.pack") == packs.Packed(0, 3)  # its answers, to rate
    for response_id in c.response_ids:
        Ratings(home.store).add(response_id, True, "me")
    with pytest.raises(ValueError, match="no unranked comparisons and no unrated answers"):
        packs.export_pack(home.store, tmp_path / "p.pack")
    assert not (tmp_path / "p.pack").exists()


def test_content_key_separates_texts():
    assert packs.content_key("ab", ["c"]) != packs.content_key("a", ["bc"])


def test_ratings_made_in_a_pack_come_back(tmp_path):
    home = _project(tmp_path / "home", 2)
    pack_file = tmp_path / "p.pack"
    packs.export_pack(home.store, pack_file)
    with packs.open_pack(pack_file) as pack:
        c = pack.comparisons()[1]
        pack.db["ratings"].insert({"prompt_id": c.prompt_id, "response_id": c.response_ids[2], "label": 0,
                                   "annotator": "ann", "created": "2026-01-01T10:00:00+00:00"})
        pack.db.conn.commit()
    result = packs.import_pack(home.store, pack_file)
    assert result.ratings == 1
    target = home.store.comparisons()[1]
    [row] = home.store.db.query("SELECT * FROM ratings")
    assert (row["prompt_id"], row["response_id"], row["label"], row["annotator"]) == (
        target.prompt_id, target.response_ids[2], 0, "ann")
    assert packs.import_pack(home.store, pack_file).ratings == 0


def _labelled_elsewhere(tmp_path) -> tuple[Project, Path]:
    """A home project (3 comparisons, one ranked; a prompt with an answer in no comparison and a rated one),
    packed with one comparison, then rated on "another laptop" by ann and bob."""
    home = _project(tmp_path / "home", 3)
    store = home.store
    store.add_ranking(store.comparisons()[0].id, [[0], [1], [2]], "me")
    p = store.add_prompt("lonely prompt")
    store.add_response(p, "an answer in no comparison", "base")
    Ratings(store).add(store.add_response(p, "rated at home", "base"), True, "me")
    pack_file = tmp_path / "p.pack"
    # comparison 1, and to rate: the answers of comparisons 0 (ranked, not rated) and 2, and the lone answer
    assert packs.export_pack(store, pack_file, count=1) == packs.Packed(1, 7)
    with packs.open_pack(pack_file) as pack:
        answer = {r.text: r.id for r in pack.responses()}
        assert "rated at home" not in answer and len(answer) == 10
        ratings = Ratings(pack)
        ratings.add(answer["answer 1.2"], False, "ann")                  # an answer of the packed comparison
        ratings.add(answer["an answer in no comparison"], True, "ann")
        ratings.add(answer["an answer in no comparison"], False, "bob")
        active.add_rating_repeat(pack, answer["an answer in no comparison"], False, "ann")
    return home, pack_file


def _ratings_by_text(store) -> list[tuple[str, str, str, bool]]:
    return sorted((store.prompt(r.prompt_id).text, next(x.text for x in store.responses(r.prompt_id)
                                                         if x.id == r.response_id), r.annotator, r.label)
                  for r in Ratings(store).list())


def test_ratings_and_rating_repeats_come_back_once_with_their_annotators(tmp_path):
    home, pack_file = _labelled_elsewhere(tmp_path)
    store = home.store
    result = packs.import_pack(store, pack_file)
    assert (result.rankings, result.ratings, result.repeats, result.skipped) == (0, 3, 1, 0)
    assert _ratings_by_text(store) == [
        ("lonely prompt", "an answer in no comparison", "ann", True),
        ("lonely prompt", "an answer in no comparison", "bob", False),
        ("lonely prompt", "rated at home", "me", True),
        ("prompt 1", "answer 1.2", "ann", False)]
    [repeat] = active.rating_repeats(store)
    lone = next(r.id for r in store.responses() if r.text == "an answer in no comparison")
    assert (repeat["response_id"], repeat["annotator"], repeat["label"]) == (lone, "ann", 0)
    again = packs.import_pack(store, pack_file)
    assert (again.ratings, again.repeats, again.skipped) == (0, 0, 4)
    assert len(Ratings(store).list()) == 4 and len(active.rating_repeats(store)) == 1

    other = _project(tmp_path / "other", 3)                   # the same texts in another project
    other.store.add_response(other.store.add_prompt("lonely prompt"), "an answer in no comparison", "base")
    with pytest.raises(PackError, match="another project"):
        packs.import_pack(other.store, pack_file)
    assert Ratings(other.store).list() == [] and active.rating_repeats(other.store) == []


def test_the_newer_rating_of_an_annotator_wins(tmp_path):
    home, pack_file = _labelled_elsewhere(tmp_path)
    store = home.store
    lone = next(r.id for r in store.responses() if r.text == "an answer in no comparison")
    Ratings(store).add(lone, False, "ann")                     # rated at home too, before the pack's rating
    store.db.execute("UPDATE ratings SET created = '2000-01-01T00:00:00+00:00' WHERE annotator = 'ann'")
    answer_12 = next(r.id for r in store.responses() if r.text == "answer 1.2")
    Ratings(store).add(answer_12, True, "ann")                 # rated at home after the pack's rating
    store.db.execute("UPDATE ratings SET created = '2999-01-01T00:00:00+00:00' WHERE response_id = ?", [answer_12])
    store.db.conn.commit()
    result = packs.import_pack(store, pack_file)
    assert (result.ratings, result.skipped) == (2, 1)          # bob's and ann's newer; ann's older one skipped
    mine = {r.response_id: r.label for r in Ratings(store).list("ann")}
    assert mine == {lone: True, answer_12: True}


def test_a_tampered_rating_is_refused_with_one_line(tmp_path):
    home, pack_file = _labelled_elsewhere(tmp_path)
    edited = tmp_path / "edited.pack"
    shutil.copy(pack_file, edited)
    with packs.open_pack(edited) as pack:
        pack.db.execute("UPDATE responses SET text = 'a nicer answer' WHERE text = 'an answer in no comparison'")
        pack.db.conn.commit()
    with pytest.raises(PackError, match=r"tampered with: answer \d+ does not match") as err:
        packs.import_pack(home.store, edited)
    assert "\n" not in str(err.value)
    with packs.open_pack(pack_file) as pack:                  # a rating of an answer that was never exported
        p = pack.add_prompt("a prompt of my own")
        Ratings(pack).add(pack.add_response(p, "an answer of my own", "pack"), True, "ann")
    with pytest.raises(PackError, match=r"tampered with: it holds a rating of answer \d+, which was not exported"):
        packs.import_pack(home.store, pack_file)
    assert [r.annotator for r in Ratings(home.store).list()] == ["me"] and active.rating_repeats(home.store) == []


def test_a_cut_answer_is_still_marked_cut_in_the_pack(tmp_path):
    home = Project.init(tmp_path / "home")
    store = home.store
    p = store.add_prompt("Q")
    ids = [store.add_response(p, "...creating a throat", "base", {"max_new_tokens": 48}, cut=True),
           store.add_response(p, "A whole answer.", "base", {"max_new_tokens": 48}, cut=False)]
    store.add_comparison(p, ids)
    packs.export_pack(store, tmp_path / "cut.pack")
    pack = packs.open_pack(tmp_path / "cut.pack")
    [packed] = pack.comparisons()
    assert pack.cut_at(packed.response_ids) == {packed.response_ids[0]: 48}
    pack.close()
