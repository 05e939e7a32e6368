"""A project: one folder holding studio.db, project.json (which model to align) and runs/."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from studio.core.atomic import atomic_writer
from studio.core.migrations import artifact_in_run
from studio.core.output import check_output, guarded_places
from studio.core.records import Run
from studio.core.store import Store, StoreError

DB_NAME = "studio.db"
META_NAME = "project.json"
EMBEDDED_MODEL = "embedded"


class ProjectError(RuntimeError):
    """The folder is not a project, or cannot be made one."""


class Project:
    """Open with `Project.open(folder)` or create with `Project.init(folder)`.

    A project whose folder or database is not writable opens read-only (`read_only`): it can be
    read and exported from, and every write is refused with one line.
    """

    def __init__(self, root: Path, meta: dict, read_only: bool = False) -> None:
        self.root = root
        self._meta = meta
        self.read_only = read_only

    @classmethod
    def init(cls, root: str | Path, model: str | Path = EMBEDDED_MODEL) -> Project:
        """Make `root` a project (creating the folder and its database); a folder that already is one is opened.

        A model path is made absolute and must exist, so the project works from any working folder. A studio.db
        that the studio did not make is refused, never changed; an init that fails removes what it created.
        """
        root = Path(root)
        if (root / META_NAME).exists():
            return cls.open(root)
        meta = {"model": resolve_model(model),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if (root / DB_NAME).exists() or (root / DB_NAME).is_symlink():
            _check_studio_database(root / DB_NAME)
        made = _missing(root, root / "runs", *(root / (DB_NAME + end) for end in ("", "-wal", "-shm", "-journal")))
        try:
            (root / "runs").mkdir(parents=True, exist_ok=True)
            Store(root / DB_NAME).close()  # the database first: a project.json without one is refused
            _write_meta(root, meta)
        except (OSError, StoreError) as e:
            _remove(made)
            raise ProjectError(f"cannot create a project in {root}: {getattr(e, 'strerror', None) or e}") from e
        return cls(root, meta)

    @classmethod
    def open(cls, root: str | Path) -> Project:
        root = Path(root)
        meta_path, db_path = root / META_NAME, root / DB_NAME
        if not meta_path.is_file():
            raise ProjectError(f"{root} is not an Alignment Studio project (no {META_NAME}); "
                               "create one with Project.init or `python -m studio init`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ProjectError(f"cannot read {meta_path}: {e}") from e
        if not isinstance(meta, dict) or not isinstance(meta.get("model"), str):
            raise ProjectError(f'{meta_path} must be a JSON object with a "model" string')
        if not db_path.is_file() or db_path.stat().st_size == 0:
            state = "is empty" if db_path.is_file() else "is missing"
            raise ProjectError(f"{db_path} {state} although {meta_path} exists: the project's data is gone or "
                               "was moved; restore studio.db from a backup (nothing was created in its place)")
        read_only = not (os.access(root, os.W_OK) and os.access(db_path, os.W_OK))
        return cls(root, meta, read_only)

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @functools.cached_property
    def store(self) -> Store:
        """This instance's Store, opened on first use (belongs to the thread that first used it)."""
        return Store(self.db_path, read_only=self.read_only)

    def close(self) -> None:
        """Close the store if it was opened."""
        if "store" in self.__dict__:
            self.__dict__.pop("store").close()

    @property
    def model_spec(self) -> str:
        """Either "embedded" or the path of a model folder."""
        return self._meta["model"]

    def set_model(self, spec: str | Path) -> None:
        meta = {**self._meta, "model": resolve_model(spec)}
        try:
            _write_meta(self.root, meta)
        except OSError as e:
            raise ProjectError(f"cannot write {self.root / META_NAME}: {e.strerror or e}") from e
        self._meta = meta

    def run_folder(self, run_id: int) -> Path:
        """runs/<run_id>/, whether or not it exists (nothing is created: `run_dir` makes it)."""
        return self.root / "runs" / str(run_id)

    def run_dir(self, run_id: int) -> Path:
        """runs/<run_id>/, created if missing."""
        path = self.run_folder(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def lock_run(self, run_id: int) -> FileLock:
        """Hold runs/<id>/run.lock while training it (the OS lets go when the process dies, even by kill -9)."""
        lock = FileLock(self.run_dir(run_id) / "run.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ValueError(f"run {run_id} is being trained by another process right now") from None
        return lock

    def run_is_live(self, run_id: int) -> bool:
        """Whether a process is training run `run_id` now (a `running` run that is not was killed: resume it)."""
        if not self.run_folder(run_id).is_dir() or self.read_only:
            return False
        try:
            self.lock_run(run_id).release()
        except ValueError:
            return True
        return False

    def artifact_path(self, run: Run) -> Path:
        """The folder of a finished run's adapter: its stored path, which must lie inside runs/<id>/."""
        relative = artifact_in_run(run.id, run.artifact)
        if relative is None:
            raise LookupError(f"run {run.id} has no adapter folder inside runs/{run.id}/ "
                              f"(stored: {run.artifact!r}); refusing to read it")
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.run_folder(run.id).resolve()):
            raise LookupError(f"run {run.id}'s adapter folder {relative} leads outside runs/{run.id}/ "
                              "(a link?); refusing to read it")
        if not path.is_dir():
            raise LookupError(f"run {run.id}'s adapter folder {self.root / relative} is missing")
        return path

    def relative_artifact(self, run_id: int, path: str | Path) -> str:
        """`path` (an engine's output inside runs/<run_id>/) as the text the store keeps, relative to the root."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def check_output(self, path: str | Path, *, force: bool = False, folder: bool = False,
                     rewrite: bool = False) -> Path:
        """`path` as an export target (a folder with `folder`), refused with one line if it lies inside this or
        another project, the project's model, the studio's model cache or the embedded model, if it is a database,
        or (unless `force`, or `rewrite` for a command's own input) if it would replace a file or fill a folder
        the user already has (see `studio.core.output`)."""
        model = None if self.model_spec == EMBEDDED_MODEL else Path(self.model_spec)
        places = [("the project folder", self.root), *guarded_places(model)]
        return check_output(path, places, force=force, folder=folder, rewrite=rewrite)


def resolve_model(spec: str | Path) -> str:
    """"embedded", or the absolute path of an existing model folder or file."""
    if str(spec) == EMBEDDED_MODEL:
        return EMBEDDED_MODEL
    path = Path(spec).expanduser()
    if not path.exists():
        raise ProjectError(f"model {spec} does not exist: give a model folder, a .gguf file or 'embedded'")
    return str(path.resolve())


def _check_studio_database(path: Path) -> None:
    """Refuse a studio.db the studio did not make (another program's database, any other file): init must not
    add tables to it. It is read through a read-only connection."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro",
                                                uri=True)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error:
        row = None
    if row is None:
        raise ProjectError(f"{path} exists and is not an Alignment Studio database: init leaves it alone; "
                           "choose another folder or move that file away")


def _missing(*paths: Path) -> list[Path]:
    """Those of `paths`, and the folders above them, that do not exist yet, deepest first."""
    missing = set()
    for path in paths:
        while not (path.exists() or path.is_symlink()) and path != path.parent:
            missing.add(path)
            path = path.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def _remove(paths: list[Path]) -> None:
    """Remove what a failed init created (files, then the folders, if empty), deepest first; best effort."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()


def _write_meta(root: Path, meta: dict) -> None:
    with atomic_writer(root / META_NAME) as f:
        f.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
