"""Bad input gets one `error:` line and exit 1, never a traceback or a hang (issue 8, items 4-8).

Each case is a command that once printed a traceback, hung, lost or overwrote something.
"""
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core import jsonl
from studio.core.store import Store
from tests.kill_harness import ROOT, child_env
from tests.test_data_safety import error_line, run


def studio(*args, cwd=ROOT, prefix=(), timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=timeout)


def one_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    return error_line(result.stderr)


# -- 4: a long import does not refuse a ranking made meanwhile -------------------------------------------
def test_rankings_made_during_a_30k_line_import_all_land(project, tmp_path):
    with Store(project / "studio.db") as store:
        comparisons = [c.id for c in store.comparisons()]
    prefs = tmp_path / "big.jsonl"
    with prefs.open("w") as f:
        for i in range(30_000):
            f.write(json.dumps({"prompt": f"q{i}", "chosen": f"good {i} " * 10, "rejected": f"bad {i} " * 10}) + "\n")
    child = subprocess.Popen([sys.executable, "-m", "studio", "prefs", "import", str(project), str(prefs)],
                             cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    made, waits, refused = 0, [], []
    with Store(project / "studio.db", timeout=5.0) as store:  # the GUI's connection
        while child.poll() is None or made < 4:
            started = time.monotonic()
            try:
                store.add_ranking(comparisons[made % len(comparisons)], [[1], [0]], annotator=f"gui{made}")
                made += 1
            except Exception as e:  # noqa: BLE001 - counted, then reported
                refused.append(str(e))
            waits.append(time.monotonic() - started)
            time.sleep(0.05)
    out, err = child.communicate()
    assert child.returncode == 0 and "imported 30000" in out, err
    assert refused == []
    with Store(project / "studio.db") as store:
        assert sum(r.annotator.startswith("gui") for r in store.rankings()) == made
        assert store.counts()["comparisons"] == 6 + 30_000
    print(f"{made} rankings during the import; longest wait {max(waits):.2f} s")


# -- 5: regular files only, read line by line, size-capped ---------------------------------------------------
def test_a_fifo_or_a_device_is_refused_at_once(project, tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        started = time.monotonic()
        line = one_error(studio("prompts", "import", project, path, timeout=60))
        assert "not a regular file" in line and str(path) in line
        assert time.monotonic() - started < 30


def test_a_file_over_the_size_cap_is_refused_saying_so(project, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(jsonl, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"prompt": f"prompt {i}"}) + "\n" for i in range(100)))
    rc, _, err = run(capsys, "prompts", "import", project, big)
    assert rc == 1 and "larger than" in error_line(err) and "big.jsonl" in error_line(err)


# -- 6: tracebacks seen, now one line naming the file, run or field --------------------------------------------
@pytest.mark.parametrize("content", [b"GGUF", None])
def test_a_truncated_gguf_is_named_in_one_line(tmp_path, content):
    from studio.training.models import embedded_gguf

    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(content if content is not None else embedded_gguf().read_bytes()[:100])
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "hi"}\n')
    assert studio("init", tmp_path / "p", "--model", gguf).returncode == 0
    line = one_error(studio("sample", tmp_path / "p", "--prompts", tmp_path / "prompts.jsonl",
                            "--out", tmp_path / "o.jsonl", "--device", "cpu"))
    assert "broken.gguf" in line and "GGUF" in line


def test_a_damaged_database_is_one_line(project, tmp_path):
    db = project / "studio.db"
    Store(db).close()
    schema_end = db.stat().st_size  # the schema and the first page of every table
    with Store(db) as store, store.transaction():
        for i in range(300):
            store.add_demo(f"question {i} " * 20, f"answer {i} " * 40)
    data = bytearray(db.read_bytes())
    start = schema_end + 8 * 4096  # the demonstrations' pages: the schema and every table's root stay intact
    assert len(data) > start + 40_000
    data[start:len(data) - 4096] = os.urandom(len(data) - 4096 - start)
    db.write_bytes(bytes(data))
    with Store(db) as store:  # it opens: the damage shows only when the demonstrations are read
        assert store.prompts()
    line = one_error(studio("demos", "export", project, tmp_path / "out.jsonl"))
    assert str(project) in line and "damaged" in line


@pytest.mark.parametrize("ref", ["99999999999999999999999", "²", "-1", "latest:nope", "1.5"])
def test_unreadable_run_references_are_refused_before_the_model_loads(project, tmp_path, capsys, ref):
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "hi"}\n')
    for argv in (["export", project, "--run", ref, "--out", tmp_path / "x"],
                 ["train", "sft", project, "--resume", ref],
                 ["train", "dpo", project, "--init", ref],
                 ["train", "ppo", project, "--reward", ref],
                 ["sample", project, "--policy", ref, "--prompts", tmp_path / "prompts.jsonl", "--out", tmp_path / "o"],
                 ["score", project, tmp_path / "prompts.jsonl", "--reward", ref]):
        rc, _, err = run(capsys, *argv)
        assert rc == 1 and "run" in error_line(err), argv
        assert "Loading" not in err, f"{argv}: the model was loaded before the reference was checked"
    assert not (tmp_path / "x").exists()


def test_a_damaged_or_malicious_checkpoint_is_refused_in_one_line(project, tmp_path):
    """`--resume` on a checkpoint whose state.pt is truncated or a pickle that runs code."""
    assert studio("train", "sft", project, "--steps", "2", "--batch-size", "2", "--set", "checkpoint_every=1",
                  "--device", "cpu", timeout=300).returncode == 0
    state = project / "runs" / "1" / "checkpoint" / "state.pt"
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for damage in (state.read_bytes()[:50], pickle.dumps(Payload()), b""):
        state.write_bytes(damage)
        with sqlite3.connect(project / "studio.db") as conn:
            conn.execute("UPDATE runs SET status = 'failed' WHERE id = 1")
        conn.close()
        line = one_error(studio("train", "sft", project, "--resume", "1", "--device", "cpu", timeout=300))
        assert "state.pt" in line and "weights_only" not in line
        assert not marker.exists()


@pytest.mark.parametrize("target", ["folder", "missing/x.jsonl", "file/x.jsonl"])
def test_an_export_to_a_folder_or_nowhere_is_one_line(project, tmp_path, target):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    line = one_error(studio("demos", "export", project, tmp_path / target))
    assert str(tmp_path / target).split("/x.jsonl")[0] in line


# -- 7: duplicates, identical pairs and empty files --------------------------------------------------------
def test_a_comparison_ranked_twice_by_one_annotator_names_both_lines(project, tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    rows = [{"comparison_id": 1, "ranking": [0, 1]}, {"comparison_id": 2, "ranking": [1, 0]},
            {"comparison_id": 1, "ranking": [1, 0], "annotator": "bob"}, {"comparison_id": 1, "ranking": [1, 0]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, _, err = run(capsys, "rankings", "import", project, path)
    line = error_line(err)
    assert rc == 1 and "line 4" in line and "line 1" in line and "comparison 1" in line
    assert json.loads(run(capsys, "status", project, "--json")[1])["rankings"] == 6  # the seed's only


def test_a_preference_with_chosen_equal_to_rejected_is_refused(project, tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": "same", '
                    '"rejected": "same"}\n')
    rc, _, err = run(capsys, "prefs", "import", project, path)
    assert rc == 1 and "line 2" in error_line(err) and "same text" in error_line(err)


@pytest.mark.parametrize("command", [["demos", "import"], ["prompts", "import"], ["rankings", "import"],
                                     ["prefs", "import"]])
def test_an_empty_file_is_not_a_successful_import(project, tmp_path, capsys, command):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    rc, out, err = run(capsys, *command, project, path)
    assert rc == 1 and "no records" in error_line(err) and "imported" not in out


# -- 8: init resolves the model, read-only projects, the bar before the error, score's reader ----------------
def test_init_keeps_an_absolute_model_path_and_checks_it(tmp_path, tiny_model_dir):
    here = tmp_path / "here"
    shutil.copytree(tiny_model_dir, here / "tiny")
    assert studio("init", tmp_path / "p", "--model", "tiny", cwd=here).returncode == 0
    assert json.loads((tmp_path / "p" / "project.json").read_text())["model"] == str(here / "tiny")
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "hi"}\n')
    assert studio("sample", tmp_path / "p", "--prompts", tmp_path / "prompts.jsonl", "--out", tmp_path / "o.jsonl",
                  "--max-new-tokens", "2", "--device", "cpu", cwd=tmp_path).returncode == 0
    line = one_error(studio("init", tmp_path / "q", "--model", "no-such-model", cwd=here))
    assert "no-such-model" in line and not (tmp_path / "q" / "project.json").exists()


def read_only_prefix(folder: Path) -> tuple[str, ...]:
    """A command prefix under which `folder` is read-only, even for root (a read-only bind mount)."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return ()
    script = f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" "{folder}" && exec "$@"'
    prefix = ("unshare", "-m", "sh", "-c", script, "sh")
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only folder here (root without mount namespaces)")
    return prefix


def test_a_read_only_project_shows_status_and_exports_but_changes_nothing(project, tmp_path):
    before = (project / "studio.db").read_bytes()
    prefix = read_only_prefix(project)
    status = studio("status", project, "--json", prefix=prefix)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["comparisons"] == 6
    assert studio("prefs", "export", project, tmp_path / "prefs.jsonl", prefix=prefix).returncode == 0
    assert len((tmp_path / "prefs.jsonl").read_text().splitlines()) == 6
    (tmp_path / "more.jsonl").write_text('{"prompt": "new"}\n')
    line = one_error(studio("prompts", "import", project, tmp_path / "more.jsonl", prefix=prefix))
    assert "read-only" in line
    assert (project / "studio.db").read_bytes() == before


def test_the_progress_bar_is_closed_before_the_error(tmp_path, tiny_model_dir):
    assert studio("init", tmp_path / "p", "--model", tiny_model_dir).returncode == 0
    result = studio("train", "dpo", tmp_path / "p", "--steps", "2", "--device", "cpu")  # no pairs yet
    assert "preference pair" in one_error(result)
    assert result.stderr.splitlines()[-1].startswith("error: ")


def test_score_reads_its_input_strictly(project, tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": 3}\n')
    rc, _, err = run(capsys, "score", project, path)
    line = error_line(err)
    assert rc == 1 and "answers.jsonl, line 2" in line and "completion" in line
    assert "Loading" not in err
