"""`pack import`, `runs import` and `prefs import` from the CLI on hostile input: one `error:` line naming
what is wrong, rc 1, no traceback, nothing changed; `status` keeps working (issue 23, items 2, 5, 11, 13, 16)."""
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from studio.cli import main
from studio.core import packs
from studio.core.project import Project
from tests.core.test_run_import import write_adapter
from tests.kill_harness import ROOT, child_env
from tests.test_data_safety import error_line, run


@pytest.fixture
def proj(tmp_path):
    with closing(Project.init(tmp_path / "p", model="embedded")) as project:
        for i in range(2):
            p = project.store.add_prompt(f"q{i}")
            project.store.add_comparison(p, [project.store.add_response(p, f"a{i}{j}", "base") for j in range(2)])
    return tmp_path / "p"


def _labels(proj) -> list:
    with closing(Project.open(proj)) as project:
        return [project.store.db.execute(f"SELECT * FROM {t}").fetchall() for t in ("rankings", "ratings", "runs")]


def test_a_pack_with_a_bad_row_is_refused_and_status_still_works(proj, tmp_path, capsys):
    pack = tmp_path / "x.pack"
    assert main(["pack", "export", str(proj), "--out", str(pack)]) == 0
    with packs.open_pack(pack) as store:
        store.add_ranking(store.comparisons()[0].id, [[1], [0]], "ann")
    for column, value, says in [("order", '"ab"', '"ranking" must be a non-empty list'),
                                ("order", "[[0], [5]]", "each position 0..1 exactly once"),
                                ("order", "[[0, 0]]", "names a position twice"),
                                ("status", "maybe", "unknown status"),
                                ("created", "not a date", '"created" must be a date')]:
        with closing(sqlite3.connect(pack)) as conn, conn:
            conn.execute(f'UPDATE rankings SET "{column}" = ?', [value])
        before = _labels(proj)
        rc, _, err = run(capsys, "pack", "import", proj, pack)
        assert rc == 1 and "x.pack: ranking 1 cannot be imported: " in error_line(err) and says in err
        assert _labels(proj) == before
        assert run(capsys, "status", proj)[0] == 0
        with closing(sqlite3.connect(pack)) as conn, conn:  # put the row back as the pack window wrote it
            conn.execute("UPDATE rankings SET \"order\" = '[[1], [0]]', status = 'ranked', "
                         "created = '2026-01-01T10:00:00+00:00'")
    rc, out, _ = run(capsys, "pack", "import", proj, pack)
    assert rc == 0 and "imported 1 rankings" in out


def test_what_is_not_a_pack_is_named_for_what_it_is(proj, tmp_path, capsys):
    empty = tmp_path / "empty.pack"
    empty.touch()
    other = tmp_path / "other"
    main(["init", str(other)])
    for path, says in [(tmp_path, "is a folder, not a labelling pack file"),
                       (empty, "is empty, not a labelling pack"),
                       (other / "studio.db", "is not a labelling pack: it has no pack information"),
                       (tmp_path / "nope.pack", "does not exist")]:
        before = path.read_bytes() if path.is_file() else None
        rc, _, err = run(capsys, "pack", "import", proj, path)
        assert rc == 1 and f"{path} {says}" in error_line(err)
        assert (path.read_bytes() if path.is_file() else None) == before
    assert not (other / "studio.db-wal").exists() and not (empty.parent / "empty.pack-journal").exists()


def test_a_fifo_pack_is_refused_at_once(proj, tmp_path):
    fifo = tmp_path / "pipe.pack"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "studio", "pack", "import", str(proj), str(fifo)], cwd=ROOT,
                            env=child_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"{fifo} is not a regular file (a pipe or device)" in error_line(result.stderr)


def test_runs_import_names_the_bad_file_in_one_line(proj, tmp_path, capsys):
    job = tmp_path / "job"
    out = job / "output"
    out.mkdir(parents=True)
    (out / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    write_adapter(out / "adapter_model.safetensors")
    cases = [
        (lambda: (job / "job.json").write_text("{oops"), f"{job / 'job.json'} is not valid JSON"),
        (lambda: (job / "job.json").write_text('{"kind": "sft", "config": []}'), f'{job / "job.json"}: "config"'),
        (lambda: (out / "adapter_config.json").write_text("[]"), "adapter_config.json must hold a JSON object"),
        (lambda: (out / "adapter_model.safetensors").write_bytes(b"junk"), "is not a readable safetensors file"),
        (lambda: (out / "hostname").symlink_to("/etc/hostname"), f"{out / 'hostname'} is a symlink"),
    ]
    for spoil, says in cases:
        (job / "job.json").write_text(json.dumps({"kind": "sft", "config": {"steps": 3}}))
        (out / "adapter_config.json").write_text('{"peft_type": "LORA"}')
        write_adapter(out / "adapter_model.safetensors")
        (out / "hostname").unlink(missing_ok=True)
        spoil()
        rc, _, err = run(capsys, "runs", "import", proj, out)
        assert rc == 1 and says in error_line(err), err
        assert _labels(proj)[2] == [] and not any((proj / "runs").iterdir())


def test_prefs_import_twice_adds_nothing_the_second_time(proj, tmp_path, capsys):
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text("".join(json.dumps({"prompt": f"p{i}", "chosen": "yes", "rejected": "no"}) + "\n"
                             for i in range(3)))
    assert run(capsys, "prefs", "import", proj, prefs)[0] == 0
    once = _labels(proj)
    assert run(capsys, "prefs", "import", proj, prefs)[0] == 0
    assert _labels(proj) == once and len(once[0]) == 3
