"""Merging a labelling pack back: every key and label row checked, then all of it or nothing."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from studio.core.import_export import check_ranking
from studio.core.jsonl import ranking_record
from studio.core.pack_file import PackError, by_content, content_key, pack_copy, project_id
from studio.core.ratings import rating_label
from studio.core.records import Comparison
from studio.core.store import Store
from studio.core.store_base import RANKING_STATUSES


@dataclass
class ImportResult:
    rankings: int = 0
    repeats: int = 0     # of rankings and of ratings
    ratings: int = 0
    skipped: int = 0     # already imported, or older than the label there


def _checked_items(pack: Store, path: Path, local: dict[str, list[Comparison]]) -> dict[int, Comparison]:
    """Pack comparison id -> this project's comparison (the same texts, the same copy of them), after
    checking every content key. A pack made before copies were recorded counts them in its own order."""
    copy = "copy" if "copy" in pack.db["pack_items"].columns_dict else "NULL"
    items = {row[0]: row[1:] for row in pack.db.execute(f"SELECT comparison_id, key, {copy} FROM pack_items")}
    counted: dict[str, int] = defaultdict(int)
    mapped = {}
    for c in pack.comparisons():
        key, nth = items.get(c.id, (None, None))
        if key is None or content_key(c.prompt, c.responses) != key:
            raise PackError(f"{path} was tampered with: comparison {c.id} does not match what was exported "
                            "(its prompt or answers were edited)")
        nth = counted[key] if nth is None else nth
        counted[key] += 1
        if not isinstance(nth, int) or not 0 <= nth < len(local.get(key, [])):
            raise PackError(f"{path} holds comparison {c.id} that this project does not have")
        mapped[c.id] = local[key][nth]
    if len({c.id for c in mapped.values()}) < len(mapped):
        raise PackError(f"{path} was tampered with: two of its comparisons stand for the same one of this project")
    return mapped


def _checked_answers(store: Store, pack: Store, path: Path, mapped: dict[int, Comparison]) -> dict[int, tuple]:
    """Pack answer id -> (prompt id, response id) in this project: the answers of the mapped comparisons
    (by position), and the answers packed to be rated, after checking their content keys."""
    answers = {rid: (c.prompt_id, c.response_ids[pos]) for pid, c in mapped.items()
               for pos, rid in enumerate(pack.comparison(pid).response_ids)}
    if not pack.db["pack_answers"].exists():  # a pack made before answers were packed to be rated
        return answers
    local: dict[str, tuple[int, int]] = {}
    for row in store.db.query("SELECT r.id, r.prompt_id, p.text AS prompt, r.text FROM responses r "
                              "JOIN prompts p ON p.id = r.prompt_id ORDER BY r.id"):
        local.setdefault(content_key(row["prompt"], [row["text"]]), (row["prompt_id"], row["id"]))
    for row in pack.db.query("SELECT a.response_id, a.key, p.text AS prompt, r.text FROM pack_answers a "
                             "LEFT JOIN responses r ON r.id = a.response_id LEFT JOIN prompts p ON p.id = r.prompt_id"):
        if row["text"] is None or content_key(row["prompt"], [row["text"]]) != row["key"]:
            raise PackError(f"{path} was tampered with: answer {row['response_id']} does not match what was "
                            "exported (its prompt or text was edited)")
        if row["key"] not in local:
            raise PackError(f"{path} holds answer {row['response_id']} that this project does not have")
        answers[row["response_id"]] = local[row["key"]]
    return answers


ROW_NAMES = {"rankings": "ranking", "repeats": "ranking repeat", "ratings": "rating",
             "rating_repeats": "rating repeat"}


def _created(value: object) -> str:
    """A label's time as stored here (ISO 8601 in UTC), or ValueError unless it is a date and time with its
    UTC offset (the agreement report and "the newer label wins" read it)."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError('"created" must be a date and time with its UTC offset, such as '
                         f"2026-01-01T10:00:00+00:00, got {value!r}")
    return when.astimezone(timezone.utc).isoformat()


def _ranking_object(row: dict) -> dict:
    """A stored ranking row as the JSONL object that `rankings import` reads."""
    status = row["status"]
    if status not in RANKING_STATUSES:
        raise ValueError(f"unknown status {status!r}: it is one of {', '.join(RANKING_STATUSES)}")
    try:
        order = json.loads(row["order"])
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f'"order" is not JSON: {row["order"]!r}') from None
    obj = {"comparison_id": row["comparison_id"], "annotator": row["annotator"]}
    if status == "ranked" or order != []:
        obj["ranking"] = order  # beside "skip": true it is refused, as in a JSONL line
    if status != "ranked":
        obj[status] = True
    return obj


def _ranking_rows(pack: Store, path: Path, table: str, mapped: dict[int, Comparison]) -> list[dict]:
    """The pack's rows of `table` (rankings or repeats), each checked as `rankings import` checks a line,
    with this project's comparison ids."""
    sizes = {pid: len(c.response_ids) for pid, c in mapped.items()}
    rows = []
    for r in pack.db.query(f"SELECT * FROM {table} ORDER BY id"):
        try:
            line = ranking_record(_ranking_object(r))
            check_ranking(line, sizes)
            rows.append({"comparison_id": mapped[line.comparison_id].id, "annotator": line.annotator,
                         "order": json.dumps(line.order), "status": line.status, "created": _created(r["created"])})
        except (ValueError, LookupError) as e:
            raise PackError(f"{path}: {ROW_NAMES[table]} {r['id']} cannot be imported: {e}") from None
    return rows


def _rating_rows(pack: Store, path: Path, table: str, answers: dict[int, tuple]) -> list[dict]:
    """The pack's rows of `table` (ratings or rating_repeats), each checked as `ratings import` checks a
    line, with this project's prompt and answer ids."""
    rows = []
    for r in pack.db.query(f"SELECT * FROM {table} ORDER BY id"):
        if r["response_id"] not in answers:
            raise PackError(f"{path} was tampered with: it holds a rating of answer {r['response_id']}, "
                            "which was not exported")
        label = r["label"]
        try:
            good, annotator = rating_label({"label": bool(label) if type(label) is int and label in (0, 1) else label,
                                            "annotator": r["annotator"]})
            created = _created(r["created"])
        except ValueError as e:
            raise PackError(f"{path}: {ROW_NAMES[table]} {r['id']} cannot be imported: {e}") from None
        prompt_id, response_id = answers[r["response_id"]]
        rows.append({"prompt_id": prompt_id, "response_id": response_id, "label": int(good),
                     "annotator": annotator, "created": created})
    return rows


def _insert_newer(store: Store, table: str, item: str, row: dict) -> bool:
    """Insert `row` unless the same annotator's label on the same item (column `item`) there is as new."""
    where = f"{item} = :{item} AND annotator = :annotator"
    there = store.db.execute(f"SELECT created FROM {table} WHERE {where}", row).fetchone()
    if there is not None and there[0] >= row["created"]:
        return False
    store.db.execute(f"DELETE FROM {table} WHERE {where}", row)
    store.db[table].insert(row)
    return True


def _insert_once(store: Store, table: str, row: dict) -> bool:
    """Insert `row` unless an equal one is there already."""
    if store.db.execute(f"SELECT 1 FROM {table} WHERE " + " AND ".join(f'"{k}" = :{k}' for k in row),
                        row).fetchone():
        return False
    store.db[table].insert(row)
    return True


def import_pack(store: Store, path: str | Path) -> ImportResult:
    """Merge the pack's rankings, ratings and repeats into the project, all or nothing; the pack file is
    only read."""
    path = Path(path)
    with pack_copy(path) as pack:
        info = dict(pack.db.execute("SELECT key, value FROM pack_info").fetchall())
        if info.get("project_id") != project_id(store):
            raise PackError(f"{path} comes from another project: import it into the project it was exported from")
        mapped = _checked_items(pack, path, by_content(store.comparisons()))
        answers = _checked_answers(store, pack, path, mapped)
        rankings = _ranking_rows(pack, path, "rankings", mapped)
        repeats = _ranking_rows(pack, path, "repeats", mapped)
        ratings = _rating_rows(pack, path, "ratings", answers)
        rating_repeats = [{k: r[k] for k in ("response_id", "label", "annotator", "created")}
                          for r in _rating_rows(pack, path, "rating_repeats", answers)]
    result = ImportResult()
    with store.transaction():
        for row in rankings:
            result.rankings += _insert_newer(store, "rankings", "comparison_id", row)
        for row in ratings:
            result.ratings += _insert_newer(store, "ratings", "response_id", row)
        result.repeats = (sum(_insert_once(store, "repeats", row) for row in repeats)
                          + sum(_insert_once(store, "rating_repeats", row) for row in rating_repeats))
    result.skipped = len(rankings) + len(ratings) + len(repeats) + len(rating_repeats) - (
        result.rankings + result.ratings + result.repeats)
    return result
