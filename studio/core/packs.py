"""Labelling packs: comparisons to rank and answers to rate on another computer, merged back by
content (rankings, ratings and the repeats of both).

A pack is one SQLite file with the store's own schema (so the Rank and Rate pages work on it unchanged
and every decision is committed at once, in rollback-journal mode so the single file is always whole),
holding the exported prompts, answers, comparisons and guidelines, no model and no weights, plus:

- `pack_info` (key, value): the project's id (made on the first export), the pack's id, when made;
- `pack_items` (comparison_id, key, copy): each comparison's content key, the SHA-256 of its prompt and
  answer texts, as exported, and which of the project's comparisons with that content it is (0 for the
  first by id, 1 for the second...), so that two comparisons with the same texts keep their own labels;
- `pack_answers` (response_id, key): the same for each answer packed to be rated that is in no packed
  comparison (the key of its prompt and its text); an answer of a comparison is found through it.

`import_pack` reads the pack without writing to it (read-only, an older pack migrated in a temporary
copy), recomputes every key from the texts in the pack: an edited prompt or answer changes it, and the
pack is refused; each key must name a comparison or answer of this project (texts equal), so nothing
lands anywhere else. Every label row is checked as `rankings import` and `ratings import` check a line,
and its time must be a date; the first bad row refuses the whole pack. A label is imported once: one
already there (same annotator, item, decision, time) is skipped, and a newer label of the same annotator
on the same item is kept.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from studio.core.active import guidelines, queue, set_guidelines
from studio.core.atomic import atomic_path
from studio.core.import_export import check_ranking
from studio.core.jsonl import ranking_record
from studio.core.migrations import SCHEMA_VERSION
from studio.core.ratings import Ratings, rating_label
from studio.core.records import Comparison
from studio.core.store import Store, StoreError
from studio.core.store_base import RANKING_STATUSES

SQLITE_HEADER = b"SQLite format 3\x00"


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


def _check_file(path: Path) -> bool:
    """Refuse what is not a regular, non-empty SQLite file, reading only its header; True if it is in WAL
    mode. No pack made here is (another project's studio.db is): such a file is read `immutable`, so no
    -wal or -shm appears beside it, and what its -wal holds is not read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO would block a plain open
    except FileNotFoundError:
        raise PackError(f"{path} does not exist") from None
    except OSError as e:
        if os.path.isdir(path):
            raise PackError(f"{path} is a folder, not a labelling pack file") from None
        raise PackError(f"cannot read {path}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise PackError(f"{path} is a folder, not a labelling pack file" if stat.S_ISDIR(mode) else
                        f"{path} is not a regular file (a pipe or device), not a labelling pack")
    with os.fdopen(fd, "rb") as f:
        header = f.read(100)
    if not header:
        raise PackError(f"{path} is empty, not a labelling pack")
    if not header.startswith(SQLITE_HEADER):
        raise PackError(f"{path} is damaged or not a labelling pack (not an SQLite database)")
    if len(header) < 100:
        raise PackError(f"{path} is damaged (truncated?)")
    return 2 in header[18:20]


def _connect(path: Path, uri: str) -> sqlite3.Connection:
    """A read-only connection to the pack. A labelling write killed mid-way leaves a hot journal that only a
    writer may roll back: then the pack is rolled back in a temporary copy of it and its journal, and read from
    memory; the pack itself is left as it is."""
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master")
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if exc.sqlite_errorcode != sqlite3.SQLITE_READONLY_ROLLBACK:
            raise
    memory = sqlite3.connect(":memory:")
    with tempfile.TemporaryDirectory(prefix="studio-pack-") as folder:
        copy = Path(folder) / "pack.db"
        shutil.copyfile(path, copy)
        with contextlib.suppress(FileNotFoundError):  # rolled back meanwhile by the pack window
            shutil.copyfile(f"{path}-journal", f"{copy}-journal")
        with contextlib.closing(sqlite3.connect(copy)) as rolled_back:
            rolled_back.backup(memory)
    return memory


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to the pack, after checking that it is whole, a pack and not newer."""
    wal = _check_file(path)
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?{'immutable=1' if wal else 'mode=ro'}"
    conn = None
    try:
        conn = _connect(path, uri)
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() \
            if "meta" in tables else None
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise PackError(f"{path} is damaged or not a labelling pack (truncated?): {exc}") from exc
    problem = None
    if ok != "ok":
        problem = f"{path} is damaged: {ok}"
    elif not {"pack_info", "pack_items"} <= tables:
        problem = f"{path} is not a labelling pack: it has no pack information"
    elif not str(version and version[0]).isdecimal():
        problem = f"{path} is damaged: it has no schema version"
    elif int(version[0]) > SCHEMA_VERSION:
        problem = (f"{path} was made by a newer Alignment Studio (schema {version[0]}, this one knows "
                   f"{SCHEMA_VERSION}): please upgrade")
    if problem:
        conn.close()
        raise PackError(problem)
    return conn


def open_pack(path: str | Path) -> Store:
    """Open a pack for labelling (rollback journal, so the one file is complete after every decision).

    The file is checked read-only first: what is not a pack (another project's database) is never written.
    """
    path = Path(path)
    _read_only(path).close()
    try:
        store = Store(path)
        store.db.disable_wal()
    except (StoreError, sqlite3.DatabaseError) as exc:
        raise PackError(f"{path} is damaged or not a labelling pack (truncated?): {exc}") from exc
    return store


@contextlib.contextmanager
def _pack_copy(path: Path) -> Iterator[Store]:
    """The pack, read without writing to it: copied (SQLite's backup) into a temporary file that is migrated
    if the pack is older, and deleted afterwards."""
    source = _read_only(path)
    with tempfile.TemporaryDirectory(prefix="studio-pack-") as folder:
        copy = Path(folder) / "pack.db"
        try:
            with contextlib.closing(sqlite3.connect(copy)) as target:
                source.backup(target)
        except sqlite3.DatabaseError as exc:
            raise PackError(f"{path} is damaged or not a labelling pack (truncated?): {exc}") from exc
        finally:
            source.close()
        try:
            store = Store(copy)
        except StoreError as exc:
            raise PackError(f"cannot read {path} (in a temporary copy): {exc}") from exc
        with store:
            yield store


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
    copies = _by_content(store.comparisons())
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
                              "CREATE TABLE pack_items (comparison_id INTEGER PRIMARY KEY, key TEXT NOT NULL, "
                              "copy INTEGER NOT NULL DEFAULT 0);"
                              "CREATE TABLE pack_answers (response_id INTEGER PRIMARY KEY, key TEXT NOT NULL);")
        with pack.transaction():
            info = {"project_id": project_id(store), "pack_id": uuid.uuid4().hex,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            pack.db["pack_info"].insert_all([{"key": k, "value": v} for k, v in info.items()])
            set_guidelines(pack, guidelines(store))
            for c in comparisons:
                prompt_id = pack.add_prompt(c.prompt)
                ids = [pack.add_response(prompt_id, text, "pack") for text in c.responses]
                key = content_key(c.prompt, c.responses)
                pack.db["pack_items"].insert({"comparison_id": pack.add_comparison(prompt_id, ids), "key": key,
                                              "copy": [x.id for x in copies[key]].index(c.id)})
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


def _by_content(comparisons: list[Comparison]) -> dict[str, list[Comparison]]:
    """Content key -> the comparisons with those texts, in the order given (the store's: by id)."""
    found: dict[str, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        found[content_key(c.prompt, c.responses)].append(c)
    return found


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
    with _pack_copy(path) as pack:
        info = dict(pack.db.execute("SELECT key, value FROM pack_info").fetchall())
        if info.get("project_id") != project_id(store):
            raise PackError(f"{path} comes from another project: import it into the project it was exported from")
        mapped = _checked_items(pack, path, _by_content(store.comparisons()))
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
