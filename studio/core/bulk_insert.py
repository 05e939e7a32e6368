"""Batched inserts for imports: one `executemany` a table instead of one statement a row, so an import of
tens of thousands of lines holds the write lock for a moment and the person labelling meanwhile waits
instead of failing. Call these inside a transaction (it holds the write lock, so ids read back are ours)."""
from __future__ import annotations

import json

from studio.core.store import Store


def insert_all(store: Store, table: str, columns: str, rows: list[tuple]) -> list[int]:
    """Insert `rows` with one executemany and return their new ids, in order.

    The ids are read back as those above the largest before: AUTOINCREMENT ids only grow, and the
    transaction holds the write lock, so nobody else inserts in between.
    """
    before = store.db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    marks = ", ".join("?" * len(rows[0]))
    store.db.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    return [row[0] for row in store.db.execute(f"SELECT id FROM {table} WHERE id > ? ORDER BY id", [before])]


def ids_by_content(store: Store, table: str, match: tuple[str, ...], wanted: list[tuple], columns: str,
                   rest: tuple) -> dict[tuple, int]:
    """Each distinct `wanted` value of the columns `match` -> the id of the first row of `table` holding
    it; the missing ones are inserted (in order of first appearance) as value + `rest` into `columns`.

    The rows are found in one query by the first column (an integer id, such as the prompt's).
    """
    owners = json.dumps(sorted({value[0] for value in wanted}))
    found: dict[tuple, int] = {}
    for id, *value in store.db.conn.execute(f"SELECT id, {', '.join(match)} FROM {table} WHERE {match[0]} IN "
                                            "(SELECT value FROM json_each(?)) ORDER BY id", [owners]):
        found.setdefault(tuple(value), id)
    missing = list(dict.fromkeys(value for value in wanted if value not in found))
    if missing:
        found.update(zip(missing, insert_all(store, table, columns, [(*value, *rest) for value in missing])))
    return found
