"""Ratings files get the same hostile input as the other importers (tests/test_bad_input.py,
tests/core/test_jsonl_properties.py): a JsonlError naming the line, or a complete import; never half of one."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.core.jsonl import MAX_LINE_BYTES, JsonlError
from studio.core.project import Project
from studio.core.ratings import import_ratings, read_ratings
from studio.core.store import Store
from tests.core.test_jsonl_properties import any_text, junk, quick, snapshot
from tests.test_bad_input import HOSTILE_JSON, INVALID_UTF8, encode, words

VALID = st.fixed_dictionaries({"prompt": words, "completion": words, "label": st.booleans()},
                              optional={"annotator": words})
SHAPED = st.fixed_dictionaries({"prompt": words | any_text, "completion": words | any_text,
                                "label": st.booleans() | st.integers(0, 1) | st.none() | any_text},
                               optional={"annotator": words | any_text | st.integers()})


@pytest.fixture
def project(tmp_path) -> Project:
    project = Project.init(tmp_path / "p", model="embedded")
    yield project
    project.close()


@quick
@given(data=st.data())
def test_reader_returns_records_or_raises_jsonl_error(tmp_path, data):
    lines = data.draw(st.lists(st.one_of(VALID, SHAPED).map(lambda r: json.dumps(r).encode()) | junk, max_size=5))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        read = read_ratings(path)
    except JsonlError as e:
        assert e.line is None or 1 <= e.line <= path.read_bytes().count(b"\n") + 1
    else:
        assert len(read) <= len(lines) and all(isinstance(r.label, bool) for r in read)


@quick
@given(data=st.data())
def test_import_is_all_or_nothing(tmp_path, data):
    lines = [encode(r) for r in data.draw(st.lists(VALID, min_size=1, max_size=4))]
    odd = SHAPED.map(lambda r: json.dumps(r).encode()) | junk  # ASCII escapes keep lone surrogates encodable
    lines.insert(data.draw(st.integers(1, len(lines))), data.draw(odd))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))
    with Store(None) as store:
        before = snapshot(store)
        try:
            count = import_ratings(store, path)
        except JsonlError:
            assert snapshot(store) == before
        else:
            assert count == len(read_ratings(path))


@quick
@given(data=st.data())
def test_hostile_lines_are_refused_by_number_and_change_nothing(project, tmp_path, data):
    lines = [encode(r) for r in data.draw(st.lists(VALID, min_size=1, max_size=3))]
    at = data.draw(st.integers(0, len(lines) - 1))
    kind = data.draw(st.sampled_from(["utf8", "hostile", "long"]))
    if kind == "utf8":
        cut = data.draw(st.integers(0, len(lines[at])))
        lines[at] = lines[at][:cut] + data.draw(st.sampled_from(INVALID_UTF8)) + lines[at][cut:]
    elif kind == "hostile":
        lines[at] = data.draw(st.sampled_from(HOSTILE_JSON))
    else:
        lines[at] = json.dumps({"prompt": "p", "completion": "x" * MAX_LINE_BYTES, "label": True}).encode()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    before = snapshot(project.store)
    with pytest.raises(JsonlError) as info:
        import_ratings(project.store, path)
    assert info.value.line == at + 1 and f"line {at + 1}: " in str(info.value)
    assert snapshot(project.store) == before
