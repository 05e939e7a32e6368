"""A project: one folder holding studio.db, project.json (which model to align) and runs/."""
from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from pathlib import Path

from studio.core.atomic import atomic_writer
from studio.core.store import Store

DB_NAME = "studio.db"
META_NAME = "project.json"
EMBEDDED_MODEL = "embedded"


class ProjectError(RuntimeError):
    """The folder is not a project, or cannot be made one."""


class Project:
    """Open with `Project.open(folder)` or create with `Project.init(folder)`."""

    def __init__(self, root: Path, meta: dict) -> None:
        self.root = root
        self._meta = meta

    @classmethod
    def init(cls, root: str | Path, model: str | Path = EMBEDDED_MODEL) -> Project:
        """Make `root` a project (creating the folder); a folder that already is one is just opened."""
        root = Path(root)
        if (root / META_NAME).exists():
            return cls.open(root)
        meta = {"model": str(model), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            (root / "runs").mkdir(parents=True, exist_ok=True)
            _write_meta(root, meta)
        except OSError as e:
            raise ProjectError(f"cannot create a project in {root}: {e.strerror or e}") from e
        return cls(root, meta)

    @classmethod
    def open(cls, root: str | Path) -> Project:
        root = Path(root)
        meta_path = root / META_NAME
        if not meta_path.is_file():
            raise ProjectError(f"{root} is not an Alignment Studio project (no {META_NAME}); "
                               "create one with Project.init or `python -m studio init`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ProjectError(f"cannot read {meta_path}: {e}") from e
        if not isinstance(meta, dict) or not isinstance(meta.get("model"), str):
            raise ProjectError(f'{meta_path} must be a JSON object with a "model" string')
        return cls(root, meta)

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @functools.cached_property
    def store(self) -> Store:
        """This instance's Store, opened on first use (belongs to the thread that first used it)."""
        return Store(self.db_path)

    def close(self) -> None:
        """Close the store if it was opened."""
        if "store" in self.__dict__:
            self.__dict__.pop("store").close()

    @property
    def model_spec(self) -> str:
        """Either "embedded" or the path of a model folder."""
        return self._meta["model"]

    def set_model(self, spec: str | Path) -> None:
        meta = {**self._meta, "model": str(spec)}
        try:
            _write_meta(self.root, meta)
        except OSError as e:
            raise ProjectError(f"cannot write {self.root / META_NAME}: {e.strerror or e}") from e
        self._meta = meta

    def run_dir(self, run_id: int) -> Path:
        """runs/<run_id>/, created if missing."""
        path = self.root / "runs" / str(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path


def _write_meta(root: Path, meta: dict) -> None:
    with atomic_writer(root / META_NAME) as f:
        f.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
