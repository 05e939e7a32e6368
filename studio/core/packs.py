"""Labelling packs: comparisons to rank on another computer, merged back by content (rankings, repeats,
and ratings when the studio has a `ratings` table).

A pack is one SQLite file with the store's own schema (so the Rank page works on it unchanged and
every decision is committed at once, in rollback-journal mode so the single file is always whole),
holding the exported prompts, answers, comparisons and guidelines, no model and no weights, plus:

- `pack_info` (key, value): the project's id (made on the first export), the pack's id, when made;
- `pack_items` (comparison_id, key): each comparison's content key, the SHA-256 of its prompt and
  answer texts, as exported.

`import_pack` recomputes every key from the texts in the pack: an edited answer changes it, and the
pack is refused; each key must name a comparison of this project (texts equal), so nothing lands
anywhere else. A label is imported once: one already there (same annotator, comparison, decision,
time) is skipped, and a newer label of the same annotator on the same comparison is kept.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from studio.core.active import guidelines, queue, set_guidelines
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


def export_pack(store: Store, out: str | Path, count: int | None = None, order: str = "arrival") -> int:
    """Write the unranked comparisons (the first `count` in `order`) and the guidelines to pack `out`."""
    out = Path(out)
    comparisons = queue(store, None, order)[:count]
    if not comparisons:
        raise ValueError("no unranked comparisons to put in a pack")
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with Store(tmp) as pack:
        pack.db.disable_wal()
        pack.db.executescript("CREATE TABLE pack_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                              "CREATE TABLE pack_items (comparison_id INTEGER PRIMARY KEY, key TEXT NOT NULL);")
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
    os.replace(tmp, out)
    return len(comparisons)


@dataclass
class ImportResult:
    rankings: int = 0
    repeats: int = 0
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


def import_pack(store: Store, path: str | Path) -> ImportResult:
    """Merge the pack's rankings and repeats into the project, all or nothing."""
    path = Path(path)
    pack = open_pack(path)
    try:
        info = dict(pack.db.execute("SELECT key, value FROM pack_info").fetchall())
        if info.get("project_id") != project_id(store):
            raise PackError(f"{path} comes from another project: import it into the project it was exported from")
        local = {content_key(c.prompt, c.responses): c for c in store.comparisons()}
        mapped = _checked_items(pack, path, local)
        rankings, repeats = pack.rankings(), list(pack.db.query("SELECT * FROM repeats ORDER BY id"))
        ratings = _mapped_ratings(pack, mapped) if store.db["ratings"].exists() else []
    finally:
        pack.close()
    result = ImportResult()
    with store.transaction():
        for r in rankings:
            row = {"comparison_id": mapped[r.comparison_id].id, "annotator": r.annotator,
                   "order": json.dumps(r.order), "status": r.status, "created": r.created}
            there = store.db.execute("SELECT created FROM rankings WHERE comparison_id = ? AND annotator = ?",
                                     [row["comparison_id"], r.annotator]).fetchone()
            if there is not None and there[0] >= r.created:
                result.skipped += 1
                continue
            store.db.execute("DELETE FROM rankings WHERE comparison_id = ? AND annotator = ?",
                             [row["comparison_id"], r.annotator])
            store.db["rankings"].insert(row)
            result.rankings += 1
        for r in repeats:
            row = {**{k: r[k] for k in ("annotator", "order", "status", "created")},
                   "comparison_id": mapped[r["comparison_id"]].id}
            if store.db.execute("SELECT 1 FROM repeats WHERE comparison_id = :comparison_id AND annotator = "
                                ":annotator AND created = :created AND \"order\" = :order", row).fetchone():
                result.skipped += 1
                continue
            store.db["repeats"].insert(row)
            result.repeats += 1
        for row in ratings:
            if store.db.execute("SELECT 1 FROM ratings WHERE response_id = :response_id AND annotator = :annotator "
                                "AND label = :label AND created = :created", row).fetchone():
                result.skipped += 1
                continue
            store.db["ratings"].insert(row)
            result.ratings += 1
    return result


def _mapped_ratings(pack: Store, mapped: dict[int, Comparison]) -> list[dict]:
    """The pack's ratings (the `ratings` table, when the studio has one) with this project's prompt and
    answer ids: a rated answer is found through its comparison's content key and its position in it."""
    if not pack.db["ratings"].exists():
        return []
    local_answer = {rid: (c.prompt_id, c.response_ids[pos]) for pid, c in mapped.items()
                    for pos, rid in enumerate(pack.comparison(pid).response_ids)}
    return [{"prompt_id": local_answer[r["response_id"]][0], "response_id": local_answer[r["response_id"]][1],
             "label": r["label"], "annotator": r["annotator"], "created": r["created"]}
            for r in pack.db.query("SELECT * FROM ratings ORDER BY id") if r["response_id"] in local_answer]
