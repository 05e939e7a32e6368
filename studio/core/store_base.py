"""The store's connection: opening (and migrating) the SQLite file, transactions, and the row helpers that
every table's methods, and the modules over a Store (`active`, `oversight_store`), share."""
from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Self

from sqlite_utils import Database

from studio.core import migrations

RUN_STATUSES = ("running", "finished", "cancelled", "failed", "diverged")
RANKING_STATUSES = ("ranked", "skip", "all_bad")
MAX_ID = 2**63 - 1  # SQLite's largest integer
LABEL_PATIENCE_S = 120.0  # how long a label the user made waits for another writer (an import, a training run)


class StoreError(RuntimeError):
    """The database cannot be opened or written: unwritable folder, locked, not a database, too new."""


def now() -> str:
    """The current UTC time as stored in `created`/`updated` columns."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def required_text(value: object, what: str) -> str:
    """`value` if it is a non-blank string, else ValueError naming `what`."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


class StoreBase:
    """One SQLite file (`None`: in memory), opened and migrated; every write commits at once, or
    with the others of its `transaction()`. One store per thread."""

    def __init__(self, path: str | Path | None, timeout: float = 5.0, read_only: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self._name = "the in-memory database" if path is None else str(path)
        self.read_only = read_only
        conn = None
        try:
            conn = _connect(self.path, timeout, read_only)
            self.db = Database(conn)
            if path is not None and not read_only:
                self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except (sqlite3.Error, StoreError) as e:
            if conn is not None:
                conn.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"cannot open {self._name}: {e}") from e

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        if not self.db["meta"].exists():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        version = self.schema_version
        if version > migrations.SCHEMA_VERSION:
            raise StoreError(f"{self._name} has schema version {version}, newer than this "
                             f"Alignment Studio knows ({migrations.SCHEMA_VERSION}): please upgrade")
        if self.read_only and version < migrations.SCHEMA_VERSION:
            raise StoreError(f"{self._name} is read-only and was made by an older Alignment Studio (schema "
                             f"{version}, this one needs {migrations.SCHEMA_VERSION}): open it once where it is writable")
        for number in range(version + 1, migrations.SCHEMA_VERSION + 1):
            with self.db.atomic():
                migrations.MIGRATIONS[number - 1](self.db)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(number)])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: they all land or none does (nested blocks are savepoints).

        The outermost block takes the write lock up front (BEGIN IMMEDIATE), so another connection
        writing meanwhile (a training run beside the GUI) makes it wait up to `timeout`; a deferred
        transaction that reads, then writes, fails at once with "database is locked" instead.
        """
        if self.read_only:
            raise StoreError(f"{self._name} is read-only (its folder or file is not writable): nothing was changed")
        outermost = not self.db.conn.in_transaction
        try:
            if outermost:
                self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                with self.db.atomic():  # a savepoint inside our transaction
                    yield
            except BaseException:
                if outermost:
                    self.db.rollback()
                raise
            if outermost:
                self.db.commit()
        except sqlite3.OperationalError as e:
            raise StoreError(f"cannot write to {self._name}: {e}") from e

    @contextlib.contextmanager
    def label_transaction(self) -> Iterator[None]:
        """A transaction for a label the user made (a ranking, a rating, a repeat, or their undo): it waits up
        to LABEL_PATIENCE_S, not the store's timeout, for another writer's lock, so the label lands."""
        before = self.db.execute("PRAGMA busy_timeout").fetchone()[0]
        self.db.execute(f"PRAGMA busy_timeout = {int(LABEL_PATIENCE_S * 1000)}")
        try:
            with self.transaction():
                yield
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {before}")


    def insert_row(self, table: str, row: dict) -> int:
        """Insert one row (committed at once, or with the enclosing transaction) and return its id."""
        with self.transaction():
            return self.db[table].insert(row).last_pk

    def select_rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        """The rows of a query, as dicts."""
        return list(self.db.query(sql, params))

    def get_row(self, table: str, id: int, what: str) -> dict:
        """The row of `table` with this id, else LookupError naming `what`."""
        rows = self.select_rows(f"SELECT * FROM {table} WHERE id = ?", [id])
        if not rows:
            raise LookupError(f"no {what} with id {id}")
        return rows[0]

    def _count(self, sql: str) -> int:
        return self.db.execute(sql).fetchone()[0]


def _connect(path: Path | None, timeout: float, read_only: bool) -> sqlite3.Connection:
    """A connection; read-only ones cannot write (nor create -wal/-shm files where the folder forbids it)."""
    if path is None:
        return sqlite3.connect(":memory:", timeout=timeout)
    if not read_only:
        return sqlite3.connect(path, timeout=timeout)
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}"
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:  # a WAL database in a read-only folder: no -shm can be made
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout)

