"""Hostile input through the store's importers and the CLI: a clear refusal, never a crash, never half an import.

Adds what tests/core/test_jsonl_properties.py (small junk through in-memory stores) and
tests/training/test_models.py (load_model refusals) leave out: lines over 1 MiB and exactly 1 MiB,
invalid UTF-8 inside otherwise valid lines, hostile JSON (deep nesting, huge numbers, NaN),
long random bytes, rankings of real comparisons of every size with random positions, all into a
project's own database file; and broken model folders refused by `python -m studio generate`.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core import import_export
from studio.core.jsonl import MAX_LINE_BYTES, JsonlError
from studio.core.project import Project
from tests.kill_harness import ROOT, child_env

IMPORTERS = {"demos": import_export.import_demos, "prompts": import_export.import_prompts,
             "rankings": import_export.import_rankings, "prefs": import_export.import_prefs}
SIZES = [2, 3, 4, 5]  # responses per comparison in the test project; comparison ids 1..4
few = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12).filter(str.strip)


def permutation_of(size: int):
    return st.permutations(range(size))


VALID = {
    "demos": st.fixed_dictionaries({"prompt": words, "completion": words}, optional={"system": words})
    | st.builds(lambda u, a: {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]},
                words, words),
    "prompts": st.fixed_dictionaries({"prompt": words}),
    "rankings": st.sampled_from(range(len(SIZES))).flatmap(
        lambda i: st.fixed_dictionaries({"comparison_id": st.just(i + 1), "ranking": permutation_of(SIZES[i]),
                                         "annotator": words})),
    "prefs": st.fixed_dictionaries({"prompt": words, "chosen": words, "rejected": words}).filter(
        lambda r: r["chosen"] != r["rejected"]),  # the same text twice is refused
}


@pytest.fixture
def project(tmp_path) -> Project:
    """A project whose database file holds comparisons of 2, 3, 4 and 5 responses (ids 1..4)."""
    project = Project.init(tmp_path / "p", model="embedded")
    store = project.store
    for size in SIZES:
        prompt_id = store.add_prompt(f"question with {size} answers")
        store.add_comparison(prompt_id, [store.add_response(prompt_id, f"answer {j}", "base") for j in range(size)])
    yield project
    project.close()


def snapshot(project: Project) -> dict:
    db = project.store.db
    return {table: list(db[table].rows) for table in db.table_names()}


def encode(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def import_refused(project: Project, fmt: str, lines: list[bytes], path: Path) -> JsonlError:
    """Import `lines`; it must raise a JsonlError naming the file and a line, and change nothing."""
    path.write_bytes(b"\n".join(lines))
    before = snapshot(project)
    with pytest.raises(JsonlError) as info:
        IMPORTERS[fmt](project.store, path)
    error = info.value
    assert error.path == path and error.message.strip()
    assert error.line is None or (1 <= error.line <= len(lines) and f"line {error.line}: " in str(error))
    assert snapshot(project) == before
    return error


@pytest.mark.parametrize("fmt", IMPORTERS)
@few
@given(data=st.data())
def test_a_line_over_one_mebibyte_is_refused_by_its_number(project, tmp_path, fmt, data):
    lines = [encode(r) for r in data.draw(st.lists(VALID[fmt], max_size=3))]
    size = data.draw(st.integers(MAX_LINE_BYTES + 1, MAX_LINE_BYTES + 200_000))
    fill = data.draw(st.sampled_from(["x", "é", "€", "𝄞"]))  # 1- to 4-byte characters
    text = fill * (size // len(fill.encode()) + 1)
    huge = data.draw(st.sampled_from([
        json.dumps({"prompt": text, "completion": text, "chosen": text, "rejected": text},
                   ensure_ascii=False).encode(),
        b"x" * size,  # not even JSON: refused for its length before it is parsed
        json.dumps({"comparison_id": 1, "ranking": [0, 1], "annotator": text}, ensure_ascii=False).encode(),
    ]))
    at = data.draw(st.integers(0, len(lines)))
    lines.insert(at, huge)
    error = import_refused(project, fmt, lines, tmp_path / "huge.jsonl")
    assert error.line == at + 1 and "longer than" in error.message


@pytest.mark.parametrize("fmt", ["demos", "prompts", "prefs", "rankings"])
def test_a_line_of_exactly_one_mebibyte_is_imported(project, tmp_path, fmt):
    record = {"demos": {"prompt": "p", "completion": ""}, "prompts": {"prompt": ""},
              "prefs": {"prompt": "p", "chosen": "c", "rejected": ""},
              "rankings": {"comparison_id": 1, "ranking": [1, 0], "annotator": ""}}[fmt]
    key = next(k for k, v in record.items() if v == "")
    record[key] = "é" * ((MAX_LINE_BYTES - len(encode(record))) // 2)
    record[key] += "x" * (MAX_LINE_BYTES - len(encode(record)))
    line = encode(record)
    assert len(line) == MAX_LINE_BYTES
    path = tmp_path / "edge.jsonl"
    path.write_bytes(line + b"\n")
    before = project.store.counts()
    assert IMPORTERS[fmt](project.store, path) == 1
    assert project.store.counts() != before


INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\x80", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80",
                b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"]


@pytest.mark.parametrize("fmt", IMPORTERS)
@quick
@given(data=st.data())
def test_invalid_utf8_inside_a_valid_line_is_refused(project, tmp_path, fmt, data):
    lines = [encode(r) for r in data.draw(st.lists(VALID[fmt], min_size=1, max_size=4))]
    at = data.draw(st.integers(0, len(lines) - 1))
    line = lines[at]
    cut = data.draw(st.integers(0, len(line)))
    bad = data.draw(st.sampled_from(INVALID_UTF8))
    lines[at] = line[:cut] + bad + line[cut:]
    error = import_refused(project, fmt, lines, tmp_path / "utf8.jsonl")
    assert error.line == at + 1 and "not valid UTF-8" in error.message


HOSTILE_JSON = [
    b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deeper than Python's recursion limit
    b'{"comparison_id": 1' + b"0" * 5000 + b', "ranking": [0, 1]}',  # past int's 4300-digit limit
    b'{"comparison_id": 9223372036854775808, "ranking": [0, 1]}',  # past SQLite's integers
    b'{"comparison_id": NaN, "ranking": [0, 1]}',
    b'{"comparison_id": 1e400, "ranking": [0, 1]}',
    b'{"prompt": Infinity, "completion": -Infinity}',
    b'{"prompt": "a", "prompt": 5, "completion": "b", "chosen": "c", "rejected": "d"}',  # the last key wins
    b'{"prompt": "\\ud800", "completion": "x", "chosen": "y", "rejected": "z"}',
    b'{"prompt": "  \\t\\n ", "completion": "x", "chosen": "y", "rejected": "z"}',
    b'{"prompt": "ok"',
    b"\xef\xbb\xbf{}",  # a byte-order mark is only skipped at the start of the file
    b"null", b"[]", b'"prompt"', b"1", b"{}",
]


@pytest.mark.parametrize("fmt", IMPORTERS)
@quick
@given(data=st.data())
def test_hostile_json_and_random_bytes_are_refused_cleanly(project, tmp_path, fmt, data):
    lines = [encode(r) for r in data.draw(st.lists(VALID[fmt], max_size=3))]
    junk = data.draw(st.sampled_from(HOSTILE_JSON) | st.binary(min_size=1, max_size=2000).filter(bytes.strip))
    at = data.draw(st.integers(0, len(lines)))
    lines.insert(at, junk)
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines))
    before = snapshot(project)
    try:
        count = IMPORTERS[fmt](project.store, path)
    except JsonlError as e:  # ValueError's subclass with the line; nothing else may escape
        assert e.line is None or 1 <= e.line <= len(b"\n".join(lines).split(b"\n"))
        assert snapshot(project) == before
    else:  # random bytes can happen to be a blank line or a valid one
        assert count <= len(lines)


position = st.integers(-2, 7) | st.booleans() | st.floats(-1, 6) | st.just(None) | st.text(max_size=2)
group = position | st.lists(position, max_size=4)


@quick
@given(data=st.data())
def test_rankings_of_real_comparisons_with_random_positions(project, tmp_path, data):
    """Random positions, ties and junk against comparisons of 2-5 responses: a whole valid ranking or nothing."""
    rows = data.draw(st.lists(st.fixed_dictionaries({
        "comparison_id": st.integers(1, len(SIZES)),
        "ranking": st.one_of(st.lists(group, max_size=7),
                             st.sampled_from(SIZES).flatmap(permutation_of).map(list)),
        "annotator": st.sampled_from(["ann", "bob"])}), min_size=1, max_size=4))
    path = tmp_path / "ranked.jsonl"
    path.write_bytes(b"\n".join(encode(r) for r in rows))
    before = snapshot(project)
    try:
        count = import_export.import_rankings(project.store, path)
    except JsonlError as e:
        assert e.line is not None and 1 <= e.line <= len(rows) and e.message.strip()
        assert snapshot(project) == before
        return
    assert count == len(rows)
    latest = {(r["comparison_id"], r["annotator"]): r["ranking"] for r in rows}  # a later line replaces
    stored = {(r.comparison_id, r.annotator): r.order for r in project.store.rankings()}
    for (comparison_id, annotator), ranking in latest.items():
        order = stored[(comparison_id, annotator)]
        assert order == [g if isinstance(g, list) else [g] for g in ranking]
        assert sorted(i for g in order for i in g) == list(range(SIZES[comparison_id - 1]))


# -- broken model folders, refused by the CLI ---------------------------------------------------------------
def _no_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


def _truncated_safetensors(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _pickle_only(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")


BROKEN = {
    "missing tokenizer": (_no_tokenizer, "no tokenizer files"),
    "truncated safetensors": (_truncated_safetensors, "model.safetensors is truncated or corrupt"),
    "pickle-only checkpoint": (_pickle_only, "only has pickle weights (pytorch_model.bin)"),
}


def test_generate_refuses_broken_model_folders_with_a_clear_message(tmp_path, tiny_model_dir):
    """`python -m studio generate` on each broken folder: exit 1, one readable error line, no traceback."""
    children = {}
    for name, (damage, _) in BROKEN.items():
        folder = Path(shutil.copytree(tiny_model_dir, tmp_path / name.replace(" ", "_") / "model"))
        damage(folder)
        project = Project.init(folder.parent / "project", model=folder)
        project.store.add_prompt("Say hi")
        project.close()
        children[name] = subprocess.Popen(
            [sys.executable, "-m", "studio", "generate", str(project.root), "--max-new-tokens", "2",
             "--device", "cpu"], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    for name, child in children.items():
        out, err = child.communicate(timeout=300)
        message = BROKEN[name][1]
        assert child.returncode == 1, f"{name}: rc {child.returncode}\n{out}\n{err}"
        assert "Traceback" not in err, f"{name}:\n{err}"
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and message in errors[0], f"{name}:\n{err}"
        assert "stored" not in out
