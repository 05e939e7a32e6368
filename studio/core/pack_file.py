"""A labelling pack as a file: what it is (see `studio.core.packs`), how it is checked read-only before
anything opens it, opened for labelling, or read through a temporary copy; and the content keys that name
its comparisons and answers."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import stat
import tempfile
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from studio.core.migrations import SCHEMA_VERSION
from studio.core.records import Comparison
from studio.core.store import Store, StoreError

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


def by_content(comparisons: list[Comparison]) -> dict[str, list[Comparison]]:
    """Content key -> the comparisons with those texts, in the order given (the store's: by id)."""
    found: dict[str, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        found[content_key(c.prompt, c.responses)].append(c)
    return found


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
def pack_copy(path: Path) -> Iterator[Store]:
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

