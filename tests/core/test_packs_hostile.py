"""Packs as a hostile user might edit them (issue 23, items 2, 5, 10 and 13; issue 24's repeat path).

A pack's label rows are checked as `rankings import` and `ratings import` check a line; the pack file is
only read; two comparisons with the same texts keep their own labels.
"""
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from studio.core import active, packs
from studio.core.packs import PackError
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.core.store import Store
from tests.core.test_packs import _project


def _labels(store: Store) -> dict[str, list]:
    return {table: [tuple(row) for row in store.db.execute(f"SELECT * FROM {table} ORDER BY id")]
            for table in ("rankings", "ratings", "repeats", "rating_repeats")}


def _edit(pack_file: Path, *sql: tuple[str, list]) -> None:
    """Change the pack as a text editor of databases would: no constraints checked."""
    with contextlib.closing(sqlite3.connect(pack_file)) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for statement, params in sql:
            conn.execute(statement, params)
        conn.commit()


@pytest.fixture
def labelled(tmp_path) -> tuple[Project, Path]:
    """A project and a pack of all its comparisons, ranked, rated and repeated by ann (one row of each)."""
    home = _project(tmp_path / "home", 3)
    pack_file = tmp_path / "p.pack"
    packs.export_pack(home.store, pack_file)
    with packs.open_pack(pack_file) as pack:
        c = pack.comparisons()[0]
        pack.add_ranking(c.id, [[2], [0, 1]], "ann")
        active.add_repeat(pack, active.Repeat(c, [1, 0, 2]), [[0], [1], [2]], "ann")
        Ratings(pack).add(c.response_ids[0], True, "ann")
        active.add_rating_repeat(pack, c.response_ids[0], False, "ann")
    return home, pack_file


BAD_ROWS = [  # (table, column, value, what the one line says)
    ("rankings", "order", '"ab"', '"ranking" must be a non-empty list'),
    ("rankings", "order", "ab", '"order" is not JSON'),
    ("rankings", "order", "[[0], [5]]", "each position 0..2 exactly once"),
    ("rankings", "order", "[[0, 0]]", "names a position twice"),
    ("rankings", "order", "[[0], [1]]", "each position 0..2 exactly once"),
    ("rankings", "status", "maybe", "unknown status 'maybe'"),
    ("rankings", "status", "skip", 'give exactly one of "ranking", "skip"'),  # a skip with an order
    ("rankings", "created", "yesterday", '"created" must be a date'),
    ("rankings", "created", "2026-01-01T10:00:00", '"created" must be a date'),  # no UTC offset
    ("rankings", "created", 5, '"created" must be a date'),
    ("rankings", "annotator", "", '"annotator" is empty'),
    ("rankings", "annotator", "  ", '"annotator" is empty'),
    ("rankings", "annotator", b"ann", '"annotator" must be a string'),  # a blob
    ("rankings", "comparison_id", 99, "no comparison with id 99"),
    ("repeats", "order", "[[0], [5], [1]]", "each position 0..2 exactly once"),
    ("repeats", "status", "", "unknown status ''"),
    ("repeats", "created", "soon", '"created" must be a date'),
    ("ratings", "label", 2, '"label" must be true or false, got 2'),
    ("ratings", "label", "good", '"label" must be true or false'),
    ("ratings", "label", 0.5, '"label" must be true or false'),
    ("ratings", "created", "", '"created" must be a date'),
    ("ratings", "annotator", b"ann", '"annotator" must be a string'),
    ("rating_repeats", "label", -1, '"label" must be true or false'),
    ("rating_repeats", "created", "2026-13-01T00:00:00+00:00", '"created" must be a date'),
]


@pytest.mark.parametrize("table, column, value, message", BAD_ROWS)
def test_a_bad_label_row_refuses_the_whole_pack_in_one_line(labelled, table, column, value, message):
    home, pack_file = labelled
    _edit(pack_file, (f'UPDATE {table} SET "{column}" = ?', [value]))
    before = _labels(home.store)
    with pytest.raises(PackError) as err:
        packs.import_pack(home.store, pack_file)
    what = {"rankings": "ranking 1", "repeats": "ranking repeat 1", "ratings": "rating 1",
            "rating_repeats": "rating repeat 1"}[table]
    assert f"p.pack: {what} cannot be imported: " in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value) and "damaged" not in str(err.value)
    assert _labels(home.store) == before
    home.store.counts()  # what `status` reads still reads


def test_the_unedited_pack_imports_every_row(labelled):
    home, pack_file = labelled
    result = packs.import_pack(home.store, pack_file)
    assert (result.rankings, result.ratings, result.repeats) == (1, 1, 2)


def test_a_bad_rating_value_in_a_pack_is_one_line_naming_the_pack_not_the_database(labelled, capsys):
    from studio.cli import main

    home, pack_file = labelled
    _edit(pack_file, ("UPDATE ratings SET label = 2", []))
    assert main(["pack", "import", str(home.root), str(pack_file)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "p.pack: rating 1 cannot be imported" in err and "damaged" not in err
    assert main(["status", str(home.root)]) == 0


def _files(path: Path) -> dict[str, bytes | None]:
    """The bytes of `path` and whether its -wal, -shm and -journal exist (and theirs)."""
    return {suffix: (Path(f"{path}{suffix}").read_bytes() if Path(f"{path}{suffix}").exists() else None)
            for suffix in ("", "-wal", "-shm", "-journal")}


def test_an_old_pack_imports_without_being_changed(labelled):
    """A pack from before rating repeats (schema 5) and copy numbers: migrated in a copy, not in place."""
    home, pack_file = labelled
    _edit(pack_file, ("DROP TABLE rating_repeats", []), ("ALTER TABLE pack_items DROP COLUMN copy", []),
          ("ALTER TABLE prompts DROP COLUMN answer", []), ("ALTER TABLE responses DROP COLUMN cut", []),
          ("UPDATE meta SET value = '5' WHERE key = 'schema_version'", []))
    before = _files(pack_file)
    result = packs.import_pack(home.store, pack_file)
    assert (result.rankings, result.ratings, result.repeats) == (1, 1, 1)
    assert _files(pack_file) == before


def _kill_mid_write(pack_file: Path) -> None:
    """A labelling write SIGKILLed after its pages reached the file: the pack is left with a hot journal."""
    code = ("import os, signal, sqlite3, sys\n"
            "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "conn.execute('PRAGMA cache_size = 2')\n"  # changed pages spill into the file before any commit
            "conn.execute('BEGIN IMMEDIATE')\n"
            "conn.execute('CREATE TABLE half_written AS SELECT randomblob(300000) AS b')\n"
            "conn.execute('DELETE FROM ratings')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert subprocess.run([sys.executable, "-c", code, str(pack_file)]).returncode == -signal.SIGKILL


def test_a_pack_killed_mid_write_imports_untouched_and_opens_rolled_back(labelled):
    """Read-only, the pack is read as its last commit left it; opened for labelling, it is rolled back in place."""
    home, pack_file = labelled
    _kill_mid_write(pack_file)
    before = _files(pack_file)
    assert before["-journal"]
    result = packs.import_pack(home.store, pack_file)
    assert (result.rankings, result.ratings, result.repeats) == (1, 1, 2)
    assert _files(pack_file) == before
    with packs.open_pack(pack_file) as pack:
        assert pack.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert "half_written" not in pack.db.table_names() and len(Ratings(pack).list("ann")) == 1
    assert not Path(f"{pack_file}-journal").exists()


def test_a_zero_byte_file_stays_zero_bytes(labelled):
    home, _ = labelled
    empty = home.root.parent / "empty.pack"
    empty.touch()
    for read in (packs.import_pack, lambda _store, path: packs.open_pack(path)):
        with pytest.raises(PackError, match="empty.pack is empty, not a labelling pack"):
            read(home.store, empty)
        assert _files(empty) == {"": b"", "-wal": None, "-shm": None, "-journal": None}


@pytest.mark.parametrize("open_meanwhile", [False, True])
def test_another_projects_database_is_refused_untouched(labelled, tmp_path, open_meanwhile):
    """Its bytes, its WAL mode and the presence of its -wal/-shm stay as they were, open or closed."""
    home, _ = labelled
    other = _project(tmp_path / "other", 3)
    other.close()
    db = other.db_path
    with contextlib.ExitStack() as stack:
        if open_meanwhile:  # another studio has it open, with a write still in its -wal
            store = stack.enter_context(Store(db))
            store.add_prompt("still in the WAL")
        before = _files(db)
        assert before["-wal"] is not None if open_meanwhile else before["-wal"] is None
        for read in (packs.import_pack, lambda _store, path: packs.open_pack(path)):
            with pytest.raises(PackError, match="not a labelling pack: it has no pack information"):
                read(home.store, db)
            assert _files(db) == before
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_folder_or_a_fifo_is_named_for_what_it_is(labelled, tmp_path):
    home, _ = labelled
    fifo = tmp_path / "pipe.pack"
    os.mkfifo(fifo)
    said: list[str] = []

    def read_all() -> None:
        for path in (tmp_path, fifo):
            for read in (packs.import_pack, lambda _store, p: packs.open_pack(p)):
                with pytest.raises(PackError) as err:
                    read(home.store, path)
                said.append(str(err.value))

    worker = threading.Thread(target=read_all, daemon=True)  # a FIFO opened for reading could block forever
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():
        with open(fifo, "wb"):  # unblock the reader so the test ends
            pass
        pytest.fail("reading a FIFO as a pack blocked")
    assert said[:2] == [f"{tmp_path} is a folder, not a labelling pack file"] * 2
    assert said[2:] == [f"{fifo} is not a regular file (a pipe or device), not a labelling pack"] * 2
    assert not any("does not exist" in line for line in said)


def test_two_comparisons_with_the_same_texts_keep_both_rankings(tmp_path):
    """The same prompt and answers compared twice (e.g. sampled twice with greedy decoding): a person who
    ranked both copies differently in the pack made two labels, and both come back, once."""
    home = _project(tmp_path / "home", 1)
    store = home.store
    p = store.add_prompt("prompt 0")
    twin = store.add_comparison(p, [store.add_response(p, f"answer 0.{j}", "base") for j in range(3)])
    first = store.comparisons()[0].id
    pack_file = tmp_path / "p.pack"
    packs.export_pack(store, pack_file)
    with packs.open_pack(pack_file) as pack:
        a, b = pack.comparisons()
        pack.add_ranking(a.id, [[0], [1], [2]], "ann")
        pack.add_ranking(b.id, [[2], [1], [0]], "ann")
    result = packs.import_pack(store, pack_file)
    assert (result.rankings, result.skipped) == (2, 0)
    assert sorted((r.comparison_id, r.order) for r in store.rankings()) == [
        (first, [[0], [1], [2]]), (twin, [[2], [1], [0]])]
    again = packs.import_pack(store, pack_file)
    assert (again.rankings, again.skipped) == (0, 2) and len(store.rankings()) == 2


def test_a_twin_already_ranked_at_home_keeps_its_ranking(tmp_path):
    """Only the unranked copy was packed: the pack's label lands on it, not on the copy ranked at home."""
    home = _project(tmp_path / "home", 1)
    store = home.store
    p = store.add_prompt("prompt 0")
    twin = store.add_comparison(p, [store.add_response(p, f"answer 0.{j}", "base") for j in range(3)])
    first = store.comparisons()[0].id
    store.add_ranking(first, [[1], [0], [2]], "ann")
    pack_file = tmp_path / "p.pack"
    packs.export_pack(store, pack_file)
    with packs.open_pack(pack_file) as pack:
        [c] = pack.comparisons()
        pack.add_ranking(c.id, [[2], [1], [0]], "ann")
    assert packs.import_pack(store, pack_file).rankings == 1
    assert sorted((r.comparison_id, r.order) for r in store.rankings()) == [
        (first, [[1], [0], [2]]), (twin, [[2], [1], [0]])]


def test_a_pack_claiming_two_copies_of_one_comparison_is_refused(tmp_path):
    home = _project(tmp_path / "home", 2)
    pack_file = tmp_path / "p.pack"
    packs.export_pack(home.store, pack_file)
    _edit(pack_file, ("UPDATE pack_items SET copy = 1 WHERE comparison_id = 1", []))
    with pytest.raises(PackError, match="holds comparison 1 that this project does not have"):
        packs.import_pack(home.store, pack_file)


def test_a_ranking_repeat_lands_on_the_projects_comparison_once(tmp_path):
    """Issue 24: the pack numbers its comparisons from 1, the project does not (two were ranked before the
    export), so a repeat that kept the pack's id would name another comparison; importing twice adds it once."""
    home = _project(tmp_path / "home", 4)
    store = home.store
    ids = {c.prompt: c.id for c in store.comparisons()}
    for prompt in ("prompt 0", "prompt 1"):
        store.add_ranking(ids[prompt], [[0], [1], [2]], "me")
    pack_file = tmp_path / "p.pack"
    packs.export_pack(store, pack_file)
    with packs.open_pack(pack_file) as pack:
        c = next(c for c in pack.comparisons() if c.prompt == "prompt 3")
        assert c.id != ids["prompt 3"]
        pack.add_ranking(c.id, [[0], [1], [2]], "ann")
        active.add_repeat(pack, active.Repeat(c, [2, 0, 1]), [[0], [1], [2]], "ann")  # on screen 2, 0, 1
    assert packs.import_pack(store, pack_file).repeats == 1
    [repeat] = active.repeats(store)
    assert (repeat["comparison_id"], repeat["annotator"], repeat["order"]) == (ids["prompt 3"], "ann",
                                                                              [[2], [0], [1]])
    again = packs.import_pack(store, pack_file)
    assert (again.repeats, again.skipped) == (0, 2)
    assert len(active.repeats(store)) == 1
