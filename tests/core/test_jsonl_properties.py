"""Property tests: whatever a file holds, a reader returns records or raises JsonlError, and an
import lands completely or not at all."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core import import_export, jsonl
from studio.core.store import Store

# Text may be empty, blank or a lone surrogate (json.dumps escapes it as \udXXX; readers must refuse it).
any_text = st.text(st.characters(exclude_categories=()), max_size=8) | st.characters(categories=["Cs"])
words = st.text(min_size=1, max_size=8).filter(str.strip)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(any_text, inner, max_size=3), max_leaves=8)
COMPARISONS = [1, 2]  # made by store_with_comparisons(), 3 responses each


def records(text, comparison_id, ranking):
    return {
        "demos": st.fixed_dictionaries({"prompt": text, "completion": text}),
        "prompts": st.fixed_dictionaries({"prompt": text}),
        "rankings": st.fixed_dictionaries({"comparison_id": comparison_id, "ranking": ranking}),
        "prefs": st.fixed_dictionaries({"prompt": text, "chosen": text, "rejected": text}).filter(
            lambda r: r["chosen"] != r["rejected"]),  # the same text twice is refused
    }


VALID = records(words, st.sampled_from(COMPARISONS), st.permutations([0, 1, 2]))
# The right keys with values that are often wrong: bad text, unknown comparisons, bad positions.
SHAPED = records(words | any_text, st.sampled_from([*COMPARISONS, 99]),
                 st.permutations([0, 1, 2, 3]).flatmap(lambda p: st.integers(2, 4).map(lambda n: p[:n])))
KEYS = ["prompt", "completion", "system", "messages", "comparison_id", "ranking", "skip", "all_bad",
        "annotator", "chosen", "rejected"]
near_misses = st.dictionaries(st.sampled_from(KEYS), json_values | words | st.integers(-1, 3), max_size=5)
turn = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"]),
                              "content": words | json_values})
messages = st.fixed_dictionaries({"messages": st.lists(turn, max_size=4)})
junk = st.one_of(near_misses, messages, json_values).map(lambda v: json.dumps(v).encode())
junk |= st.binary(max_size=40)

READERS = {"demos": jsonl.read_demos, "prompts": jsonl.read_prompts, "rankings": jsonl.read_rankings,
           "prefs": jsonl.read_prefs}
IMPORTERS = {"demos": import_export.import_demos, "prompts": import_export.import_prompts,
             "rankings": import_export.import_rankings, "prefs": import_export.import_prefs}
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def line(strategy):
    return strategy.map(lambda record: json.dumps(record).encode())


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
    lines = data.draw(st.lists(line(VALID[fmt]) | line(SHAPED[fmt]) | junk, max_size=5))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        read = READERS[fmt](path)
    except jsonl.JsonlError as e:
        assert e.line is None or 1 <= e.line <= path.read_bytes().count(b"\n") + 1  # junk may hold newlines
    else:
        assert len(read) <= len(lines)


@pytest.mark.parametrize("fmt", IMPORTERS)
@quick
@given(data=st.data())
def test_imports_are_all_or_nothing(tmp_path, fmt, data):
    """Valid lines with an odd one after the first: all of it lands, or none of it."""
    lines = data.draw(st.lists(line(VALID[fmt]), min_size=1, max_size=4))
    lines.insert(data.draw(st.integers(1, len(lines))), data.draw(line(SHAPED[fmt]) | junk))
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
