"""Property tests: whatever a file holds, a reader returns records or raises JsonlError, and an
import lands completely or not at all."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core import import_export, jsonl
from studio.core.store import Store

# Text may hold lone surrogates: json.dumps escapes them as \udXXX, which the readers must refuse.
any_text = st.text(st.characters(exclude_categories=()) | st.characters(categories=["Cs"]), max_size=8)
words = st.text(min_size=1, max_size=8).filter(str.strip)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(any_text, inner, max_size=3), max_leaves=8)
positions = st.integers(-1, 3)

texts = words | any_text  # mostly valid; sometimes empty, blank or with a lone surrogate
# Records of the right shape; the property tests mix them with junk lines.
SHAPED = {
    "demos": st.fixed_dictionaries({"prompt": texts, "completion": texts}),
    "prompts": st.fixed_dictionaries({"prompt": texts}),
    "rankings": st.fixed_dictionaries({"comparison_id": st.sampled_from([1, 2, 99]),
                                       "ranking": st.permutations([0, 1, 2]) | st.lists(positions, max_size=4)}),
    "prefs": st.fixed_dictionaries({"prompt": texts, "chosen": texts, "rejected": texts}),
}
KEYS = ["prompt", "completion", "system", "messages", "comparison_id", "ranking", "skip", "all_bad",
        "annotator", "chosen", "rejected"]
# Objects with the right keys but anything for values, including near misses such as tie groups.
near_misses = st.dictionaries(st.sampled_from(KEYS), json_values | words | positions
                              | st.lists(positions | st.lists(positions, max_size=3), max_size=4), max_size=5)
messages = st.fixed_dictionaries({"messages": st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": words | json_values}), max_size=4)})
as_line = st.one_of(near_misses, messages, json_values).map(lambda v: json.dumps(v).encode())
junk = as_line | st.binary(max_size=40)

READERS = {"demos": jsonl.read_demos, "prompts": jsonl.read_prompts, "rankings": jsonl.read_rankings,
           "prefs": jsonl.read_prefs}
IMPORTERS = {"demos": import_export.import_demos, "prompts": import_export.import_prompts,
             "rankings": import_export.import_rankings, "prefs": import_export.import_prefs}
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def store_with_comparisons() -> Store:
    store = Store(None)
    for text in ("P", "Q"):
        prompt_id = store.add_prompt(text)
        store.add_comparison(prompt_id, [store.add_response(prompt_id, t, "base") for t in "abc"])
    return store


def snapshot(store: Store) -> dict:
    return {table: list(store.db[table].rows) for table in store.db.table_names()}


@pytest.mark.parametrize("fmt", READERS)
@quick
@given(data=st.data())
def test_readers_return_records_or_raise_jsonl_error(tmp_path, fmt, data):
    lines = data.draw(st.lists(junk | SHAPED[fmt].map(lambda r: json.dumps(r).encode()), max_size=5))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        records = READERS[fmt](path)
    except jsonl.JsonlError as e:
        assert e.line is None or 1 <= e.line <= max(1, len(path.read_bytes().split(b"\n")))
    else:
        assert len(records) <= len(lines)


@pytest.mark.parametrize("fmt", IMPORTERS)
@quick
@given(data=st.data())
def test_imports_are_all_or_nothing(tmp_path, fmt, data):
    lines = data.draw(st.lists(SHAPED[fmt].map(lambda r: json.dumps(r).encode()) | junk, min_size=1, max_size=5))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))
    with store_with_comparisons() as store:
        before = snapshot(store)
        try:
            count = IMPORTERS[fmt](store, path)
        except jsonl.JsonlError:
            assert snapshot(store) == before
        else:
            assert count == len(READERS[fmt](path))
