import contextlib
import errno
import json
import sqlite3

import pytest

from studio.core.project import Project, ProjectError


def test_init_open_and_model(tmp_path):
    root = tmp_path / "new" / "proj"
    project = Project.init(root)
    assert project.model_spec == "embedded" and (root / "runs").is_dir()
    assert set(json.loads((root / "project.json").read_text())) >= {"model", "created"}
    project.store.add_prompt("P")
    assert (root / "studio.db").is_file()
    (tmp_path / "my-model").mkdir()
    project.set_model(tmp_path / "my-model")
    project.close()

    again = Project.open(root)
    assert again.model_spec == str(tmp_path / "my-model")
    assert [p.text for p in again.store.prompts()] == ["P"]
    assert again.run_dir(3) == root / "runs" / "3" and (root / "runs" / "3").is_dir()
    again.close()


def test_init_on_existing_project_opens_it(tmp_path):
    Project.init(tmp_path, model=tmp_path)
    assert Project.init(tmp_path, model="embedded").model_spec == str(tmp_path)


def test_open_refuses_non_project(tmp_path):
    with pytest.raises(ProjectError, match="not an Alignment Studio project"):
        Project.open(tmp_path)
    (tmp_path / "project.json").write_text("{oops")
    with pytest.raises(ProjectError, match="cannot read"):
        Project.open(tmp_path)


def test_init_refuses_unwritable_place(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ProjectError, match="a_file"):
        Project.init(blocker / "proj")


@pytest.mark.parametrize("stored, expected", [
    ("runs/7/adapter", "runs/7/adapter"),
    ("/old/place/runs/7/adapter", "runs/7/adapter"),
    ("C:\\Users\\ann\\proj\\runs\\7\\adapter", "runs/7/adapter"),
    ("/a/runs/7/b/runs/7/adapter", "runs/7/adapter"),
    ("runs/7", None), ("runs/8/adapter", None), ("runs/7/../8/adapter", None), ("x/runs/7/adapter", None),
    ("/home/ann/.ssh", None), ("", None), (None, None),
])
def test_artifact_in_run_accepts_only_paths_inside_that_run(stored, expected):
    from studio.core.migrations import artifact_in_run

    assert artifact_in_run(7, stored) == expected


def test_check_output_guards_the_project_and_the_model(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    project = Project.init(tmp_path / "p", model=model)
    (tmp_path / "link").symlink_to(tmp_path / "p")
    for inside in (tmp_path / "p", tmp_path / "p" / "studio.db", tmp_path / "p" / "runs" / "1" / "x",
                   tmp_path / "link" / "out.jsonl", model, model / "config.json"):
        with pytest.raises(ValueError, match="refusing to write"):
            project.check_output(inside)
    assert project.check_output(tmp_path / "out.jsonl") == tmp_path / "out.jsonl"
    assert project.check_output(tmp_path / "p2" / "x", folder=True) == tmp_path / "p2" / "x"  # a sibling


def _foreign_db(path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.execute("INSERT INTO recipes VALUES ('bread')")
        conn.commit()


@pytest.mark.parametrize("content", ["sqlite", "text", "empty"])
def test_init_refuses_a_studio_db_it_did_not_make_and_changes_nothing(tmp_path, content):
    """Issue 23, item 14: init once added the studio's tables to another program's studio.db."""
    db = tmp_path / "studio.db"
    if content == "sqlite":
        _foreign_db(db)
    else:
        db.write_bytes(b"my notes" if content == "text" else b"")
    before = db.read_bytes()
    with pytest.raises(ProjectError, match="studio.db exists and is not an Alignment Studio database"):
        Project.init(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studio.db"] and db.read_bytes() == before


def test_init_reuses_a_studio_database_whose_project_json_was_lost(tmp_path):
    project = Project.init(tmp_path)
    project.store.add_prompt("kept")
    project.close()
    (tmp_path / "project.json").unlink()
    again = Project.init(tmp_path)
    assert [p.text for p in again.store.prompts()] == ["kept"]
    again.close()


@pytest.mark.parametrize("fails_at", ["database", "project.json"])
def test_a_failed_init_removes_what_it_made_and_only_that(tmp_path, monkeypatch, fails_at):
    """A full disk (simulated) midway through init leaves no runs/, studio.db, -wal or -shm behind, and keeps
    what was there before."""
    import studio.core.project as project_module

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fails_at == "database":  # the connection stays open, as after a failed write: -wal and -shm are there
        monkeypatch.setattr(project_module.Store, "close", disk_full)
    else:
        monkeypatch.setattr(project_module, "_write_meta", disk_full)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for root in (mine, tmp_path / "new" / "deeper"):
        with pytest.raises(ProjectError, match="No space left on device"):
            Project.init(root)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
