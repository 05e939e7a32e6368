"""Strict JSONL readers (a whole file is checked before anything is returned) and an atomic writer.

Formats, one JSON object per line (blank lines are skipped):
- demos: {"prompt": str, "completion": str, "system": str (optional)} or
  {"messages": [{"role": "system", ...} (optional), {"role": "user", ...}, {"role": "assistant", ...}]}
- prompts: {"prompt": str}
- rankings: {"comparison_id": int, "ranking": [best, ..., worst], "annotator": str (optional, "me")},
  where an element may be a list of tied positions ([[0, 1], 2]); or {"comparison_id": int, "skip": true}
  or {"comparison_id": int, "all_bad": true}
- prefs (TRL): {"prompt": str, "chosen": str, "rejected": str}, chosen and rejected different
- completions (to score): {"prompt": str, "completion": str, ...} (other keys are kept)

Only regular files are read (not FIFOs or devices), line by line, up to MAX_FILE_BYTES; a file with no
record at all is refused.
"""
from __future__ import annotations

import codecs
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from studio.core.atomic import atomic_writer

MAX_LINE_BYTES = 1 << 20
MAX_FILE_BYTES = 1 << 30
MAX_ID = 2**63 - 1  # SQLite's largest integer
T = TypeVar("T")


class JsonlError(ValueError):
    """A JSONL file that cannot be imported; `line` is 1-based (None for the whole file)."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path, self.line, self.message = Path(path), line, message
        super().__init__(f"{path}, line {line}: {message}" if line else f"{path}: {message}")


class _Invalid(Exception):
    """A bad field; turned into a JsonlError with the file and line."""


@dataclass(frozen=True)
class DemoLine:
    prompt: str
    response: str
    system: str | None
    line: int


@dataclass(frozen=True)
class PromptLine:
    text: str
    line: int
    answer: str | None = None  # the reference answer, when the line gives one


@dataclass(frozen=True)
class RankingLine:
    """`order` is best-first tie groups ([] unless `status` is "ranked")."""

    comparison_id: int
    order: list[list[int]]
    annotator: str
    status: str
    line: int


@dataclass(frozen=True)
class PrefLine:
    prompt: str
    chosen: str
    rejected: str
    line: int


@dataclass(frozen=True)
class CompletionLine:
    """A {prompt, completion} line to score; `record` is the whole object (extra keys are written back)."""

    prompt: str
    completion: str
    record: dict
    line: int


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(obj: dict, key: str) -> str:
    if key not in obj:
        raise _Invalid(f'missing key "{key}"')
    value = obj[key]
    if not isinstance(value, str):
        hint = " (conversational formats are not supported here)" if isinstance(value, list) else ""
        raise _Invalid(f'"{key}" must be a string, got {_kind(value)}{hint}')
    if not value.strip():
        raise _Invalid(f'"{key}" is empty')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(f'"{key}" holds a lone surrogate escape (\\ud800-\\udfff)') from None
    return value


def _int(obj: dict, key: str) -> int:
    if key not in obj:
        raise _Invalid(f'missing key "{key}"')
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise _Invalid(f'"{key}" must be a non-negative integer, got {_short(value)}')
    return value


def _open_regular(path: Path, limit: int | None = None, what: str = "JSONL file"):
    """Open `path` for reading if it is a regular file of at most `limit` bytes (default MAX_FILE_BYTES); a FIFO
    would block forever."""
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise JsonlError(path, None, f"cannot read the file: {e.strerror or e}") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"not a regular file (a folder, pipe or device): only a regular file is read as a {what}"
    elif info.st_size > limit:
        problem = f"the file is larger than {_mib(limit)}, the most a {what} may hold here"
    if problem:
        os.close(fd)
        raise JsonlError(path, None, problem)
    return os.fdopen(fd, "rb")


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def read_text(path: str | Path, limit: int, what: str) -> str:
    """A small UTF-8 text file (a `what`, e.g. guidelines), with the JSONL readers' checks: a regular file of at
    most `limit` bytes; JsonlError otherwise."""
    path = Path(path)
    with _open_regular(path, limit, what) as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:  # the file grew after it was opened
        raise JsonlError(path, None, f"the file is larger than {_mib(limit)}, the most a {what} may hold here")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise JsonlError(path, None, f"not valid UTF-8 (byte {e.start + 1})") from None


def _objects(path: Path) -> Iterable[tuple[int, dict]]:
    with _open_regular(path) as f:
        number, total = 0, 0
        while raw := f.readline(MAX_LINE_BYTES + 2):
            number += 1
            total += len(raw)
            if total > MAX_FILE_BYTES:  # the file grew while it was read
                raise JsonlError(path, number, f"the file is larger than {MAX_FILE_BYTES >> 20} MiB")
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            raw = raw.removesuffix(b"\n")
            if len(raw) > MAX_LINE_BYTES:
                raise JsonlError(path, number, f"line is longer than {MAX_LINE_BYTES} bytes")
            yield number, _parse(path, number, raw)


def _parse(path: Path, number: int, raw: bytes) -> dict | None:
    """One line's object, or None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonlError(path, number, f"not valid UTF-8 (byte {e.start + 1} of the line)") from None
    if not text.strip(" \t\r"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonlError(path, number, f"not valid JSON: {e.msg} at column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise JsonlError(path, number, f"not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise JsonlError(path, number, f"expected a JSON object, got {_kind(value)}")
    return value


def _read(path: str | Path, parse: Callable[[dict, int], T]) -> list[T]:
    path = Path(path)
    records = []
    for number, obj in _objects(path):
        if obj is None:
            continue
        try:
            records.append(parse(obj, number))
        except _Invalid as e:
            raise JsonlError(path, number, str(e)) from None
    if not records:
        raise JsonlError(path, None, "the file holds no records (it is empty or has only blank lines)")
    return records


def _demo(obj: dict, line: int) -> DemoLine:
    if "messages" not in obj:
        system = _string(obj, "system") if "system" in obj else None
        return DemoLine(_string(obj, "prompt"), _string(obj, "completion"), system, line)
    messages = obj["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _Invalid('"messages" must be a list of {"role", "content"} objects')
    roles = [m.get("role") for m in messages]
    if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
        raise _Invalid(f'"messages" must be [system (optional), user, assistant], got roles {_short(roles)}; '
                       "multi-turn demonstrations are not supported")
    contents = [_string(m, "content") for m in messages]
    return DemoLine(contents[-2], contents[-1], contents[0] if len(contents) == 3 else None, line)


def _prompt(obj: dict, line: int) -> PromptLine:
    """`{"prompt"}`, or `{"prompt", "answer"}` with a reference answer (a string, or a number kept as written)."""
    answer = obj.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        obj = {**obj, "answer": json.dumps(answer)}
    return PromptLine(_string(obj, "prompt"), line, _string(obj, "answer").strip() if "answer" in obj else None)


def _ranking(obj: dict, line: int) -> RankingLine:
    comparison_id = _int(obj, "comparison_id")
    annotator = _string(obj, "annotator") if "annotator" in obj else "me"
    given = [key for key in ("ranking", "skip", "all_bad") if key in obj]
    if len(given) != 1:
        raise _Invalid('give exactly one of "ranking", "skip": true or "all_bad": true')
    if given[0] != "ranking":
        if obj[given[0]] is not True:
            raise _Invalid(f'"{given[0]}" must be true')
        return RankingLine(comparison_id, [], annotator, given[0], line)
    ranking = obj["ranking"]
    if not isinstance(ranking, list) or len(ranking) < 1:
        raise _Invalid('"ranking" must be a non-empty list of positions, best first')
    order = [item if isinstance(item, list) else [item] for item in ranking]
    flat = [i for group in order for i in group]
    if not all(order) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in flat):
        raise _Invalid('"ranking" elements must be non-negative integers or non-empty lists of them')
    if len(set(flat)) != len(flat):
        raise _Invalid(f'"ranking" names a position twice: {_short(ranking)}')
    if len(flat) < 2:
        raise _Invalid(f'"ranking" must order at least 2 responses, got {_short(ranking)}')
    return RankingLine(comparison_id, order, annotator, "ranked", line)


def _pref(obj: dict, line: int) -> PrefLine:
    pref = PrefLine(_string(obj, "prompt"), _string(obj, "chosen"), _string(obj, "rejected"), line)
    if pref.chosen == pref.rejected:
        raise _Invalid('"chosen" and "rejected" are the same text: a preference needs two different answers')
    return pref


def _completion(obj: dict, line: int) -> CompletionLine:
    return CompletionLine(_string(obj, "prompt"), _string(obj, "completion"), obj, line)


def parse_record(parse: Callable[[dict, int], T], obj: dict) -> T:
    """One record that comes from elsewhere than a file (a pack's row), checked by `parse` exactly as the
    readers check a line; ValueError names the bad field."""
    try:
        return parse(obj, 0)
    except _Invalid as e:
        raise ValueError(str(e)) from None


def ranking_record(obj: dict) -> RankingLine:
    """A {"comparison_id", "ranking" | "skip" | "all_bad", "annotator"} object checked as `read_rankings` does."""
    return parse_record(_ranking, obj)


def read_demos(path: str | Path) -> list[DemoLine]:
    return _read(path, _demo)


def read_prompts(path: str | Path) -> list[PromptLine]:
    return _read(path, _prompt)


def read_rankings(path: str | Path) -> list[RankingLine]:
    """Rankings; one annotator ranking one comparison twice is refused, naming both lines."""
    rankings = _read(path, _ranking)
    first: dict[tuple[int, str], int] = {}
    for r in rankings:
        earlier = first.setdefault((r.comparison_id, r.annotator), r.line)
        if earlier != r.line:
            raise JsonlError(path, r.line, f"comparison {r.comparison_id} is ranked again by annotator "
                                           f"{r.annotator!r} (first on line {earlier}): keep one of the two lines")
    return rankings


def read_prefs(path: str | Path) -> list[PrefLine]:
    return _read(path, _pref)


def read_completions(path: str | Path) -> list[CompletionLine]:
    return _read(path, _completion)


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write one `json.dumps(record, ensure_ascii=False)` per line, atomically; return the count."""
    count = 0
    with atomic_writer(path) as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
