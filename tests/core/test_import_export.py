import json

import pytest

from studio.core.import_export import (
    export_comparisons, export_demos, export_prefs, import_demos, import_prefs, import_prompts,
    import_rankings,
)
from studio.core.jsonl import JsonlError

DEMOS = [
    {"prompt": "Say hi", "completion": "Hi! 👋"},
    {"prompt": "Ünïcode\nnewline", "completion": "a\u2028b \"quoted\""},
    {"prompt": "With a system message", "completion": "ok", "system": "Be brief."},
]
PREFS = [
    {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
    {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "I don't know"},
    {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
]


def canonical(tmp_path, records, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_demos_round_trip_byte_for_byte(store, tmp_path):
    src = canonical(tmp_path, DEMOS)
    assert import_demos(store, src) == 3
    assert export_demos(store, tmp_path / "out.jsonl") == 3
    assert (tmp_path / "out.jsonl").read_bytes() == src.read_bytes()


def test_messages_demos_round_trip_byte_for_byte(store, tmp_path):
    src = canonical(tmp_path, [
        {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u2"},
                      {"role": "assistant", "content": "a2"}]},
    ])
    import_demos(store, src)
    export_demos(store, tmp_path / "out.jsonl", fmt="messages")
    assert (tmp_path / "out.jsonl").read_bytes() == src.read_bytes()
    with pytest.raises(ValueError, match="format"):
        export_demos(store, tmp_path / "x.jsonl", fmt="sharegpt")


def test_prefs_round_trip_byte_for_byte(store, tmp_path):
    src = canonical(tmp_path, PREFS)
    assert import_prefs(store, src) == 3
    assert store.counts() == {"prompts": 2, "demonstrations": 0, "comparisons": 3, "ranked": 3,
                              "unranked": 0, "rankings": 3, "pairs": 3, "runs": 0}
    assert {r.annotator for r in store.rankings()} == {"import"}
    assert {r.policy for r in store.responses()} == {"imported"}
    assert export_prefs(store, tmp_path / "out.jsonl") == 3
    assert (tmp_path / "out.jsonl").read_bytes() == src.read_bytes()


def test_prefs_import_is_idempotent_by_content(store, comparison, tmp_path):
    """Issue 23 item 16: the same file twice, or a line twice, adds each comparison and pair once; an
    answer already stored for the prompt ("a" of the fixture's prompt "Q") is reused."""
    src = canonical(tmp_path, [*PREFS, PREFS[0], {"prompt": "Q", "chosen": "a", "rejected": "z"}])
    assert import_prefs(store, src) == 5
    once = store.counts()
    assert (once["comparisons"], once["rankings"], once["pairs"]) == (1 + 4, 4, 4)
    assert import_prefs(store, src) == 5
    assert store.counts() == once and len(store.responses()) == 3 + 7
    reused = store.comparisons()[-1]
    assert (reused.prompt, reused.responses, reused.response_ids[0]) == ("Q", ["a", "z"], store.comparison(
        comparison).response_ids[0])
    assert export_prefs(store, tmp_path / "out.jsonl") == 4


def test_export_prefs_expands_rankings_and_skips_ties(store, comparison, tmp_path):
    store.add_ranking(comparison, [[1, 2], [0]], annotator="a")
    store.add_ranking(comparison, [[0], [1], [2]], annotator="b")
    export_prefs(store, tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(x["chosen"], x["rejected"]) for x in lines] == [("b", "a"), ("c", "a"), ("a", "b"), ("a", "c"),
                                                             ("b", "c")]


def test_prompts_and_rankings_via_exported_comparisons(store, comparison, tmp_path):
    assert import_prompts(store, canonical(tmp_path, [{"prompt": "Q"}, {"prompt": "New"}])) == 2
    assert [p.text for p in store.prompts()] == ["Q", "New"]
    export_comparisons(store, tmp_path / "todo.jsonl")
    todo = json.loads((tmp_path / "todo.jsonl").read_text())
    assert todo == {"comparison_id": comparison, "prompt": "Q", "responses": ["a", "b", "c"]}
    ranked = canonical(tmp_path, [{"comparison_id": comparison, "ranking": [2, [0, 1]], "annotator": "ann"}],
                       "ranked.jsonl")
    assert import_rankings(store, ranked) == 1
    assert store.rankings()[0].order == [[2], [0, 1]]
    assert export_comparisons(store, tmp_path / "todo.jsonl") == 0
    assert export_comparisons(store, tmp_path / "todo.jsonl", annotator="bob") == 1


@pytest.mark.parametrize("bad, message", [
    ({"comparison_id": 99, "ranking": [0, 1, 2]}, "no comparison with id 99"),
    ({"comparison_id": 1, "ranking": [0, 1]}, "exactly once"),
    ({"comparison_id": 1, "ranking": [0, 1, 3]}, "exactly once"),
])
def test_rankings_checked_against_store_with_line_number(store, comparison, tmp_path, bad, message):
    good = {"comparison_id": comparison, "ranking": [0, 1, 2], "annotator": "a"}
    skip = {"comparison_id": comparison, "skip": True, "annotator": "x"}
    path = canonical(tmp_path, [good, skip, bad, {**good, "annotator": "y"}])
    with pytest.raises(JsonlError, match=message) as info:
        import_rankings(store, path)
    assert info.value.line == 3
    assert store.rankings() == []


@pytest.mark.parametrize("importer, good, bad", [
    (import_demos, DEMOS[0], {"prompt": "p", "completion": ""}),
    (import_prompts, {"prompt": "p"}, {"prompt": 5}),
    (import_prefs, PREFS[0], {"prompt": "p", "chosen": "a"}),
])
def test_bad_line_3_of_5_imports_nothing(store, tmp_path, importer, good, bad):
    path = canonical(tmp_path, [good, good, bad, good, good])
    with pytest.raises(JsonlError) as info:
        importer(store, path)
    assert info.value.line == 3
    assert set(store.counts().values()) == {0}


def test_an_import_never_replaces_a_label(store, comparison, tmp_path):
    """The same ranking again adds nothing and keeps the stored row; the annotator's comparison ranked otherwise is
    refused on its line and changes nothing; another annotator's ranking of it is added."""
    kept = store.add_ranking(comparison, [[0], [1], [2]], "me")
    before = store.rankings()
    same = canonical(tmp_path, [{"comparison_id": comparison, "ranking": [0, 1, 2]}], "same.jsonl")
    assert import_rankings(store, same) == 0
    assert store.rankings() == before and before[0].id == kept
    other = {"comparison_id": comparison, "ranking": [2, 1, 0], "annotator": "ann"}
    flipped = canonical(tmp_path, [other, {"comparison_id": comparison, "ranking": [1, 0, 2]}], "flipped.jsonl")
    with pytest.raises(JsonlError, match="already ranked otherwise by 'me'") as info:
        import_rankings(store, flipped)
    assert info.value.line == 2 and store.rankings() == before
    assert import_rankings(store, canonical(tmp_path, [other], "ann.jsonl")) == 1
    assert [(r.annotator, r.order) for r in store.rankings()] == [("me", [[0], [1], [2]]), ("ann", [[2], [1], [0]])]
