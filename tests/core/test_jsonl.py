import json

import pytest

from studio.core.jsonl import (
    MAX_LINE_BYTES, DemoLine, JsonlError, RankingLine, read_demos, read_prefs, read_prompts, read_rankings,
    write_jsonl,
)


def write(tmp_path, *lines: str | bytes):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines))
    return path


def test_demos_in_both_formats_and_blank_lines(tmp_path):
    path = write(tmp_path, '{"prompt": "p", "completion": "c"}', "", "  ",
                 '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},'
                 ' {"role": "assistant", "content": "a"}]}',
                 '{"messages": [{"role": "user", "content": "u2"},'
                 ' {"role": "assistant", "content": "a2"}]}\r')
    assert read_demos(path) == [DemoLine("p", "c", None, 1), DemoLine("u", "a", "s", 4),
                                DemoLine("u2", "a2", None, 5)]


def test_rankings_flat_tied_and_skipped(tmp_path):
    path = write(tmp_path, '{"comparison_id": 1, "ranking": [2, 0, 1]}',
                 '{"comparison_id": 2, "ranking": [[0, 1], 2], "annotator": "ann"}',
                 '{"comparison_id": 3, "skip": true}', '{"comparison_id": 4, "all_bad": true}')
    assert read_rankings(path) == [
        RankingLine(1, [[2], [0], [1]], "me", "ranked", 1),
        RankingLine(2, [[0, 1], [2]], "ann", "ranked", 2),
        RankingLine(3, [], "me", "skip", 3),
        RankingLine(4, [], "me", "all_bad", 4),
    ]


@pytest.mark.parametrize("reader, line, message", [
    (read_prompts, '{"prompt": ""}', '"prompt" is empty'),
    (read_prompts, '{"prompt": "  "}', '"prompt" is empty'),
    (read_prompts, '{"text": "x"}', 'missing key "prompt"'),
    (read_prompts, '["x"]', "expected a JSON object, got a list"),
    (read_prompts, '{"prompt": 3}', '"prompt" must be a string, got a number'),
    (read_prompts, '{"prompt": "x"', "not valid JSON"),
    (read_prompts, '{"prompt": "\\ud800"}', "lone surrogate"),
    (read_prompts, "[" * 100_000, "not valid JSON"),
    (read_prompts, b'{"prompt": "\xff"}', "not valid UTF-8"),
    (read_demos, '{"prompt": "p"}', 'missing key "completion"'),
    (read_demos, '{"prompt": "p", "completion": "c", "system": 1}', '"system" must be a string'),
    (read_demos, '{"messages": [{"role": "user", "content": "u"}]}', "multi-turn"),
    (read_demos, '{"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"},'
                 ' {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}', "multi-turn"),
    (read_demos, '{"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": ""}]}',
     '"content" is empty'),
    (read_demos, '{"messages": "hi"}', "must be a list"),
    (read_rankings, '{"comparison_id": "1", "ranking": [0, 1]}', "non-negative integer"),
    (read_rankings, '{"comparison_id": true, "ranking": [0, 1]}', "non-negative integer"),
    (read_rankings, '{"comparison_id": 99999999999999999999, "ranking": [0, 1]}', "non-negative integer"),
    (read_rankings, '{"comparison_id": 1, "ranking": [0, 0]}', "twice"),
    (read_rankings, '{"comparison_id": 1, "ranking": [0]}', "at least 2"),
    (read_rankings, '{"comparison_id": 1, "ranking": [[], 0, 1]}', "non-empty lists"),
    (read_rankings, '{"comparison_id": 1, "ranking": [0, -1]}', "non-negative"),
    (read_rankings, '{"comparison_id": 1, "ranking": [0, 1.0]}', "non-negative"),
    (read_rankings, '{"comparison_id": 1, "skip": false}', '"skip" must be true'),
    (read_rankings, '{"comparison_id": 1, "skip": true, "ranking": [0, 1]}', "exactly one"),
    (read_rankings, '{"comparison_id": 1}', "exactly one"),
    (read_prefs, '{"prompt": [{"role": "user", "content": "p"}], "chosen": "a", "rejected": "b"}',
     "conversational formats are not supported"),
    (read_prefs, '{"prompt": "p", "chosen": "a"}', 'missing key "rejected"'),
])
def test_bad_line_names_its_number(tmp_path, reader, line, message):
    path = write(tmp_path, '{"prompt": "p", "completion": "c", "chosen": "a", "rejected": "b",'
                           ' "comparison_id": 1, "ranking": [0, 1]}', "", line)
    with pytest.raises(JsonlError, match=message) as info:
        reader(path)
    assert info.value.line == 3 and info.value.path == path and ", line 3: " in str(info.value)


def test_long_line_and_missing_file(tmp_path):
    path = write(tmp_path, json.dumps({"prompt": "x" * MAX_LINE_BYTES}))
    with pytest.raises(JsonlError, match="longer than"):
        read_prompts(path)
    with pytest.raises(JsonlError, match="cannot read") as info:
        read_prompts(tmp_path / "missing.jsonl")
    assert info.value.line is None


def test_bom_and_non_ascii(tmp_path):
    path = write(tmp_path, '\ufeff{"prompt": "héllo \u2028 wörld"}')
    assert read_prompts(path)[0].text == "héllo \u2028 wörld"


def test_write_jsonl_is_canonical_and_atomic(tmp_path):
    path = tmp_path / "out.jsonl"
    assert write_jsonl(path, [{"b": "é", "a": 1}, {"x": "\u2028"}]) == 2
    assert path.read_bytes() == '{"b": "é", "a": 1}\n{"x": "\u2028"}\n'.encode()

    def failing():
        yield {"a": 2}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(path, failing())
    assert path.read_bytes() == '{"b": "é", "a": 1}\n{"x": "\u2028"}\n'.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
