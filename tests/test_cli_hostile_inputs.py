"""Hostile input to the newer commands gets one `error:` line (or a note) and changes nothing (issue 23)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.cli_labels import GUIDELINES_MAX_BYTES
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
