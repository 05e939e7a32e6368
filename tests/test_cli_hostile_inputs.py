"""Hostile input to the newer commands gets one `error:` line (or a note) and changes nothing (issue 23)."""
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.cli import main
from studio.cli.labels import GUIDELINES_MAX_BYTES
from studio.core import active
from studio.core.store import Store
from tests.kill_harness import ROOT, child_env
from tests.test_data_safety import error_line, run


def studio(*args, timeout=120) -> subprocess.CompletedProcess:
    """The CLI in a child process (a FIFO or a runaway regex would hang the test process)."""
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=timeout)


def guidelines_of(project: Path) -> str:
    with Store(project / "studio.db") as store:
        return active.guidelines(store)


# -- item 6: a runaway regex holds no lock and stops with one line -----------------------------------------------
def test_a_runaway_regex_rule_stops_with_one_line_and_labels_nothing(project):
    with Store(project / "studio.db") as store:
        pid = store.add_prompt("count")
        store.add_comparison(pid, [store.add_response(pid, t, "base") for t in ("x" * 3000, "x")])
        before = store.rankings()
    result = studio("label", "rule", project, "--rule", "regex:(x+x+)+y")
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert "regular expression '(x+x+)+y' took over 1 s on a 3000-character answer" in line
    assert "nothing was labelled" in line
    with Store(project / "studio.db") as store:
        assert store.rankings() == before


# -- item 7: guidelines come from a small regular file -------------------------------------------------------------
def test_guidelines_from_a_fifo_are_refused_at_once(project, tmp_path):
    fifo = tmp_path / "guide.md"
    os.mkfifo(fifo)
    result = studio("guidelines", project, "--set", fifo, timeout=60)
    assert result.returncode == 1 and "not a regular file" in error_line(result.stderr)
    assert guidelines_of(project) == ""


@pytest.mark.parametrize("source", ["/dev/zero", "folder"])
def test_guidelines_from_a_device_or_folder_are_refused(project, tmp_path, capsys, source):
    path = tmp_path if source == "folder" else Path(source)
    rc, _, err = run(capsys, "guidelines", project, "--set", path)
    assert rc == 1 and "not a regular file" in error_line(err) and str(path) in error_line(err)
    assert guidelines_of(project) == ""


def test_guidelines_over_the_size_cap_are_refused_and_the_old_ones_kept(project, tmp_path, capsys):
    small, big = tmp_path / "small.md", tmp_path / "big.md"
    small.write_text("# Rules\nBe brief.\n", encoding="utf-8")
    big.write_text("x" * (GUIDELINES_MAX_BYTES + 1), encoding="utf-8")
    assert run(capsys, "guidelines", project, "--set", small)[0] == 0
    rc, _, err = run(capsys, "guidelines", project, "--set", big)
    assert rc == 1 and "larger than 1 MiB, the most a guidelines file may hold" in error_line(err)
    assert guidelines_of(project) == "# Rules\nBe brief.\n"
    bad = tmp_path / "latin1.md"
    bad.write_bytes("café".encode("latin-1"))
    rc, _, err = run(capsys, "guidelines", project, "--set", bad)
    assert rc == 1 and "not valid UTF-8" in error_line(err)
    assert guidelines_of(project) == "# Rules\nBe brief.\n"


# -- item 12: what can be checked is checked before the model loads or anything is written --------------------------
@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every model the CLI loads (project model or judge), by spec, still loaded for real."""
    from studio.training import models, runs

    loaded, real_open, real_load = [], runs.open_base, models.load_model
    monkeypatch.setattr(runs, "open_base", lambda project, **kw: loaded.append("project") or real_open(project, **kw))
    monkeypatch.setattr(models, "load_model", lambda spec, **kw: loaded.append(str(spec)) or real_load(spec, **kw))
    return loaded


@pytest.mark.parametrize("kind, needs", [("sft", "SFT needs at least one demonstration"),
                                         ("reward", "Reward model needs at least one preference pair"),
                                         ("dpo", "DPO needs at least one preference pair"),
                                         ("kto", "KTO needs at least one rated answer")])
def test_training_an_empty_project_loads_nothing_and_records_no_run(tmp_path, tiny_model_dir, capsys, loads,
                                                                    kind, needs):
    assert run(capsys, "init", tmp_path / "empty", "--model", tiny_model_dir)[0] == 0
    rc, _, err = run(capsys, "train", kind, tmp_path / "empty", "--steps", "1")
    assert rc == 1 and needs in error_line(err)
    assert loads == []
    with Store(tmp_path / "empty" / "studio.db") as store:
        assert store.runs() == []


@pytest.mark.parametrize("argv, message", [(["--lr", "inf"], "lr must be a finite number (got inf)"),
                                           (["--set", "max_grad_norm=inf"], "max_grad_norm must be a finite"),
                                           (["--set", "weight_decay=-inf"], "weight_decay must be a finite"),
                                           (["--set", "weight_decay=-0.1"], "weight_decay must be 0 or more")])
def test_a_setting_that_is_not_a_finite_number_is_refused_before_the_model_loads(project, capsys, loads, argv,
                                                                                 message):
    rc, _, err = run(capsys, "train", "sft", project, "--steps", "1", *argv)
    assert rc == 1 and message in error_line(err)
    assert loads == []
    with Store(project / "studio.db") as store:
        assert store.runs() == []


@pytest.mark.parametrize("empty", ["principle", "prompt", "answer"])
def test_revise_with_an_empty_input_is_refused_before_the_model_loads(project, capsys, loads, empty):
    values = {"principle": "be kind", "prompt": "hello?", "answer": "go away", empty: "  "}
    rc, _, err = run(capsys, "revise", project, *[f"--{k}={v}" for k, v in values.items()], "--save")
    assert rc == 1 and f"--{empty} is empty" in error_line(err)
    assert loads == []
    with Store(project / "studio.db") as store:
        assert len(store.demos()) == 6


def test_a_label_ai_whose_judge_fails_stores_no_principle(project, tmp_path, capsys):
    rc, _, err = run(capsys, "label", "ai", project, "--principle", "prefer kind answers",
                     "--judge", tmp_path / "no-such-model")
    assert rc == 1 and "no-such-model" in error_line(err)
    rc, out, _ = run(capsys, "principles", project)
    assert rc == 0 and out == ""


# -- item 15: a judge `models` calls untrainable is refused ------------------------------------------------------
def test_revise_refuses_a_remote_code_judge_with_almost_no_weights(project, tmp_path, tiny_model_dir, capsys, loads):
    from safetensors.numpy import save_file

    judge = tmp_path / "remote-judge"
    judge.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    (judge / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "m.Model"}}))
    for file in tiny_model_dir.iterdir():
        if file.name not in ("config.json", "model.safetensors"):
            shutil.copy(file, judge / file.name)
    save_file({"unused.weight": np.zeros(2, dtype=np.float32)}, str(judge / "model.safetensors"))
    rc, out, err = run(capsys, "revise", project, "--principle", "be kind", "--prompt", "hi", "--answer", "go",
                       "--judge", judge)
    assert rc == 1 and out == ""
    assert error_line(err) == (f"error: cannot use {judge} as the judge: needs remote code (auto_map), which the "
                               "studio never runs")
    assert loads == []


def test_the_runs_glue_checks_the_data_before_it_stores_a_run(tmp_path, tiny_model_dir):
    """The GUI trains through `runs.train` with the model already loaded: no run is stored without data."""
    from types import SimpleNamespace

    from studio.core.project import Project
    from studio.training.runs import train

    project = Project.init(tmp_path / "empty", model=tiny_model_dir)
    for kind in ("sft", "reward", "dpo", "kto"):
        with pytest.raises(ValueError, match="needs at least one .* \\(nothing was run\\)"):
            train(project, SimpleNamespace(device="cpu"), kind)
    assert project.store.runs() == []
    project.close()


# -- item 13: a missing comparison is named as one ---------------------------------------------------------------
def test_a_pack_ranking_a_missing_comparison_says_so(project, tmp_path, capsys):
    pack = tmp_path / "todo.pack"
    assert run(capsys, "pack", "export", project, "--out", pack)[0] == 0
    with contextlib.closing(sqlite3.connect(pack)) as conn:  # foreign keys are off in a plain connection
        conn.execute('INSERT INTO rankings (comparison_id, annotator, "order", status, created) '
                     "VALUES (99, 'me', '[[0], [1]]', 'ranked', '2026-01-01T00:00:00+00:00')")
        conn.commit()
    with Store(project / "studio.db") as store:
        before = store.rankings()
    rc, _, err = run(capsys, "pack", "import", project, pack)
    line = error_line(err)
    assert rc == 1 and line != "error: 99" and " 99 " in f"{line} "
    assert "not found in this project" in line or "no comparison with id 99" in line
    with Store(project / "studio.db") as store:
        assert store.rankings() == before
