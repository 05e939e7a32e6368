"""Labelling packs: comparisons to rank and answers to rate on another computer, merged back by
content (rankings, ratings and the repeats of both).

A pack is one SQLite file with the store's own schema (so the Rank and Rate pages work on it unchanged
and every decision is committed at once, in rollback-journal mode so the single file is always whole),
holding the exported prompts, answers, comparisons and guidelines, no model and no weights, plus:

- `pack_info` (key, value): the project's id (made on the first export), the pack's id, when made;
- `pack_items` (comparison_id, key): each comparison's content key, the SHA-256 of its prompt and
  answer texts, as exported;
- `pack_answers` (response_id, key): the same for each answer packed to be rated that is in no packed
  comparison (the key of its prompt and its text); an answer of a comparison is found through it.

`import_pack` recomputes every key from the texts in the pack: an edited prompt or answer changes it,
and the pack is refused; each key must name a comparison or answer of this project (texts equal), so
nothing lands anywhere else. A label is imported once: one already there (same annotator, item,
decision, time) is skipped, and a newer label of the same annotator on the same item is kept.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from studio.core.active import guidelines, queue, set_guidelines
from studio.core.atomic import atomic_path
from studio.core.ratings import Ratings
from studio.core.records import Comparison
from studio.core.store import Store, StoreError


class PackError(ValueError):
    """A pack that cannot be used: damaged, tampered with, from another project, or not a pack."""


def content_key(prompt: str, answers: list[str]) -> str:
    """SHA-256 of a comparison's prompt and answers (in order), lengths included so no split is ambiguous."""
    digest = hashlib.sha256()
    for text in [prompt, *answers]:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def project_id(store: Store) -> str:
    """The project's id (made once, on first use): a pack must come back to the project it left."""
    with store.transaction():
        store.db.execute("INSERT OR IGNORE INTO meta VALUES ('project_id', ?)", [uuid.uuid4().hex])
        return store.db.execute("SELECT value FROM meta WHERE key = 'project_id'").fetchone()[0]


def open_pack(path: str | Path) -> Store:
    """Open a pack for labelling (rollback journal, so the one file is complete after every decision)."""
    path = Path(path)
    if not path.is_file():
        raise PackError(f"{path} does not exist")
    try:
        store = Store(path)
        store.db.disable_wal()
        ok = store.db.execute("PRAGMA quick_check").fetchone()[0]
        has_info = store.db["pack_info"].exists() and store.db["pack_items"].exists()
    except (StoreError, sqlite3.DatabaseError) as exc:
        raise PackError(f"{path} is damaged or not a labelling pack (truncated?): {exc}") from exc
    if ok != "ok" or not has_info:
        store.close()
        raise PackError(f"{path} is damaged or not a labelling pack"
                        + ("" if has_info else ": it has no pack information"))
    return store


@dataclass
class Packed:
    comparisons: int
    answers: int         # answers to rate that are in no packed comparison


def export_pack(store: Store, out: str | Path, count: int | None = None, order: str = "arrival",
                answers: int | None = None) -> Packed:
    """Write the unranked comparisons (the first `count` in `order`), the answers nobody has rated (the
    first `answers`, besides those of the packed comparisons) and the guidelines to pack `out`."""
    out = Path(out)
    comparisons = queue(store, None, order)[:count]
    in_comparisons = {(c.prompt, text) for c in comparisons for text in c.responses}
    to_rate = {}
    for item in Ratings(store).unrated(None):
        if (item.prompt, item.response) not in in_comparisons:
            to_rate.setdefault((item.prompt, item.response), item)
    to_rate = list(to_rate.values())[:answers]
    if not comparisons and not to_rate:
        raise ValueError("nothing to put in a pack: no unranked comparisons and no unrated answers")
    with atomic_path(out) as tmp, Store(tmp) as pack:
        pack.db.disable_wal()
        pack.db.executescript("CREATE TABLE pack_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                              "CREATE TABLE pack_items (comparison_id INTEGER PRIMARY KEY, key TEXT NOT NULL);"
                              "CREATE TABLE pack_answers (response_id INTEGER PRIMARY KEY, key TEXT NOT NULL);")
        with pack.transaction():
            info = {"project_id": project_id(store), "pack_id": uuid.uuid4().hex,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            pack.db["pack_info"].insert_all([{"key": k, "value": v} for k, v in info.items()])
            set_guidelines(pack, guidelines(store))
            for c in comparisons:
                prompt_id = pack.add_prompt(c.prompt)
                ids = [pack.add_response(prompt_id, text, "pack") for text in c.responses]
                pack.db["pack_items"].insert({"comparison_id": pack.add_comparison(prompt_id, ids),
                                              "key": content_key(c.prompt, c.responses)})
            for item in to_rate:
                pack.db["pack_answers"].insert({
                    "response_id": pack.add_response(pack.add_prompt(item.prompt), item.response, "pack"),
                    "key": content_key(item.prompt, [item.response])})
    return Packed(len(comparisons), len(to_rate))


@dataclass
class ImportResult:
    rankings: int = 0
    repeats: int = 0     # of rankings and of ratings
    ratings: int = 0
    skipped: int = 0     # already imported, or older than the label there


def _checked_items(pack: Store, path: Path, local: dict[str, Comparison]) -> dict[int, Comparison]:
    """Pack comparison id -> this project's comparison, after checking every content key."""
    items = dict(pack.db.execute("SELECT comparison_id, key FROM pack_items").fetchall())
    mapped = {}
    for c in pack.comparisons():
        key = items.get(c.id)
        if key is None or content_key(c.prompt, c.responses) != key:
            raise PackError(f"{path} was tampered with: comparison {c.id} does not match what was exported "
                            "(its prompt or answers were edited)")
        if key not in local:
            raise PackError(f"{path} holds comparison {c.id} that this project does not have")
        mapped[c.id] = local[key]
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


def _rating_rows(pack: Store, path: Path, table: str, answers: dict[int, tuple]) -> list[dict]:
    """The pack's rows of `table` (ratings or rating_repeats) with this project's prompt and answer ids."""
    rows = []
    for r in pack.db.query(f"SELECT * FROM {table} ORDER BY id"):
        if r["response_id"] not in answers:
            raise PackError(f"{path} was tampered with: it holds a rating of answer {r['response_id']}, "
                            "which was not exported")
        prompt_id, response_id = answers[r["response_id"]]
        rows.append({"prompt_id": prompt_id, "response_id": response_id,
                     **{k: r[k] for k in ("label", "annotator", "created")}})
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
    """Merge the pack's rankings, ratings and repeats into the project, all or nothing."""
    path = Path(path)
    pack = open_pack(path)
    try:
        info = dict(pack.db.execute("SELECT key, value FROM pack_info").fetchall())
        if info.get("project_id") != project_id(store):
            raise PackError(f"{path} comes from another project: import it into the project it was exported from")
        local = {content_key(c.prompt, c.responses): c for c in store.comparisons()}
        mapped = _checked_items(pack, path, local)
        answers = _checked_answers(store, pack, path, mapped)
        rankings = [{"comparison_id": mapped[r.comparison_id].id, "annotator": r.annotator,
                     "order": json.dumps(r.order), "status": r.status, "created": r.created} for r in pack.rankings()]
        repeats = [{**{k: r[k] for k in ("annotator", "order", "status", "created")},
                    "comparison_id": mapped[r["comparison_id"]].id}
                   for r in pack.db.query("SELECT * FROM repeats ORDER BY id")]
        ratings = _rating_rows(pack, path, "ratings", answers)
        rating_repeats = [{k: r[k] for k in ("response_id", "label", "annotator", "created")}
                          for r in _rating_rows(pack, path, "rating_repeats", answers)]
    finally:
        pack.close()
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
