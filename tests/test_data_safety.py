"""Nothing lost, nothing overwritten, a project folder that can be moved (issue 8, items 1-3).

Each test replays a command that once destroyed data or escaped the project, and checks the refusal
and that nothing changed.
"""
import contextlib
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from studio.cli import main
from studio.core import migrations
from studio.core.project import Project, ProjectError
from studio.core.store import Store
from tests.ui.seed import seed_data


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def digest(folder: Path) -> dict[str, str]:
    """Each file's hash; a database's by its rows (a WAL checkpoint rewrites its bytes, not its content)."""
    return {str(p.relative_to(folder)): hashlib.sha256(_content(p)).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix not in (".db-wal", ".db-shm")}


def _content(path: Path) -> bytes:
    if path.suffix != ".db":
        return path.read_bytes()
    with contextlib.closing(sqlite3.connect(path)) as db:
        return "\n".join(db.iterdump()).encode()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir) -> Path:
    """A project with finished tiny SFT, reward and PPO runs (trained through the CLI)."""
    root = tmp_path_factory.mktemp("trained") / "p"
    p = Project.init(root, model=tiny_model_dir)
    seed_data(p.store)
    p.close()
    tiny = ["--batch-size", "2", "--set", "max_length=64", "--set", "lora_r=4", "--set", "warmup_steps=0"]
    assert main(["train", "sft", str(root), "--steps", "2", *tiny]) == 0
    assert main(["train", "reward", str(root), "--steps", "2", *tiny]) == 0
    assert main(["train", "ppo", str(root), "--steps", "1", "--batch-size", "2", "--set", "max_new_tokens=4",
                 "--set", "ppo_epochs=1", "--set", "minibatches=1"]) == 0
    return root


@pytest.mark.parametrize("command, target", [
    (["demos", "export"], "studio.db"),
    (["prefs", "export"], "project.json"),
    (["comparisons", "export"], "runs/x.jsonl"),
    (["demos", "export"], "."),
    (["ratings", "export"], "studio.db"),
])
def test_file_exports_refuse_targets_inside_the_project(capsys, project, command, target):
    before = digest(project)
    rc, _, err = run(capsys, *command, project, project / target)
    assert rc == 1 and "inside the project folder" in error_line(err)
    assert digest(project) == before
    assert json.loads(run(capsys, "status", project, "--json")[1])["comparisons"] == 6


def test_pack_export_refuses_a_target_inside_the_project(capsys, project):
    before = digest(project)
    rc, _, err = run(capsys, "pack", "export", project, "--out", project / "studio.db")
    assert rc == 1 and "inside the project folder" in error_line(err)
    assert digest(project) == before


def test_file_exports_refuse_the_model_folder(capsys, project, tiny_model_dir):
    before = digest(tiny_model_dir)
    rc, _, err = run(capsys, "prefs", "export", project, tiny_model_dir / "config.json")
    assert rc == 1 and "inside the project's model" in error_line(err)
    assert digest(tiny_model_dir) == before


@pytest.mark.parametrize("damage, word", [(lambda db: db.unlink(), "missing"),
                                           (lambda db: db.write_bytes(b""), "empty")])
def test_a_project_without_its_database_is_refused_not_recreated(capsys, project, damage, word):
    db = project / "studio.db"
    for extra in project.glob("studio.db-*"):
        extra.unlink()
    damage(db)
    state = db.exists() and db.stat().st_size
    rc, _, err = run(capsys, "status", project)
    line = error_line(err)
    assert rc == 1 and word in line and "studio.db" in line and "project.json" in line
    assert (db.exists() and db.stat().st_size) == state  # nothing created in its place
    with pytest.raises(ProjectError, match=word):
        Project.open(project)


def test_run_export_refuses_the_model_the_project_and_run_folders(capsys, trained, tiny_model_dir):
    before = digest(tiny_model_dir), digest(trained)
    for out in (tiny_model_dir, tiny_model_dir / "sub", trained, trained / "runs" / "1" / "adapter"):
        for merged in ([], ["--merged"]):
            rc, _, err = run(capsys, "export", trained, "--run", "latest:sft", "--out", out, *merged)
            assert rc == 1 and "refusing to write" in error_line(err)
    assert (digest(tiny_model_dir), digest(trained)) == before


def test_a_copied_project_works_after_the_original_is_deleted(capsys, trained, tmp_path):
    """sample, score, export and train --init all work in a copy whose original is gone."""
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(trained, moved)
    original = tmp_path / "original"
    shutil.move(trained, original)  # gone from where the runs were trained
    try:
        prompts = tmp_path / "prompts.jsonl"
        prompts.write_text('{"prompt": "tell me about cats"}\n{"prompt": "describe tea"}\n')
        answers = tmp_path / "answers.jsonl"
        for policy in ("latest:sft", "latest:ppo"):
            assert run(capsys, "sample", moved, "--policy", policy, "--prompts", prompts, "--out", answers,
                       "--max-new-tokens", "3", "--force")[0] == 0
        assert run(capsys, "score", moved, answers)[0] == 0
        assert all(isinstance(json.loads(line)["reward"], float) for line in answers.read_text().splitlines())
        assert run(capsys, "export", moved, "--run", "latest:ppo", "--out", tmp_path / "adapter")[0] == 0
        assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
        rc, out, err = run(capsys, "train", "dpo", moved, "--init", "latest:sft", "--steps", "1",
                           "--batch-size", "2", "--set", "max_length=64")
        assert rc == 0 and "finished" in out, err
        with Store(moved / "studio.db") as store:
            assert all(r.artifact == f"runs/{r.id}/adapter" for r in store.runs())
    finally:
        shutil.move(original, trained)


@pytest.mark.parametrize("artifact", ["/root/.ssh", "runs/1/../../../secret", "runs/2/adapter", "runs/1", "../x"])
def test_a_crafted_artifact_is_refused_and_nothing_is_copied(capsys, trained, tmp_path, artifact):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE")
    craft = artifact.replace("/root/.ssh", str(secret)).replace("../../../secret", f"../../../{secret.name}")
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    with sqlite3.connect(copy / "studio.db") as conn:
        conn.execute("UPDATE runs SET artifact = ? WHERE id = 1", [craft])
    conn.close()
    out = tmp_path / "out"
    rc, _, err = run(capsys, "export", copy, "--run", "1", "--out", out)
    assert rc == 1 and "refusing to read it" in error_line(err)
    assert not out.exists()


def test_an_adapter_folder_linking_out_of_the_run_is_refused(capsys, trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    adapter = copy / "runs" / "1" / "adapter"
    shutil.move(adapter, tmp_path / "outside")
    adapter.symlink_to(tmp_path / "outside")
    rc, _, err = run(capsys, "export", copy, "--run", "1", "--out", tmp_path / "out")
    assert rc == 1 and "outside runs/1/" in error_line(err)


def test_the_migration_makes_old_absolute_artifacts_relative(tmp_path, monkeypatch):
    mine = migrations.MIGRATIONS.index(migrations._migration_relative_artifacts)
    db = tmp_path / "studio.db"
    with monkeypatch.context() as old:  # the store as the version before this migration made it
        old.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:mine])
        old.setattr(migrations, "SCHEMA_VERSION", mine)
        with Store(db) as store:
            ids = [store.create_run("sft", {}) for _ in range(4)]
            rows = [(f"/home/ann/old place/runs/{ids[0]}/adapter", ids[0]),
                    (f"/srv/runs/{ids[1]}/x/runs/{ids[1]}/adapter", ids[1]),
                    ("/home/ann/.ssh", ids[2]), (f"/p/runs/{ids[0]}/adapter", ids[3])]
            store.db.conn.executemany("UPDATE runs SET artifact = ? WHERE id = ?", rows)
            store.db.conn.commit()
            assert store.schema_version == mine
    with Store(db) as store:
        assert store.schema_version == migrations.SCHEMA_VERSION
        assert [r.artifact for r in store.runs()] == [f"runs/{ids[0]}/adapter", f"runs/{ids[1]}/adapter",
                                                      None, None]
