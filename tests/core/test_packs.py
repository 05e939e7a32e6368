import shutil

import pytest

from studio.core import active, packs
from studio.core.packs import PackError
from studio.core.project import Project


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
    assert packs.export_pack(store, pack_file, count=3) == 3

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
    home.store.add_ranking(home.store.comparisons()[0].id, [], "me", status="skip")
    with pytest.raises(ValueError, match="no unranked"):
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
