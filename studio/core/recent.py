"""Recently opened projects, remembered in recent.json under the user's config folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from studio.core.atomic import atomic_writer
from studio.core.project import META_NAME

KEEP = 10


def config_dir() -> Path:
    """$STUDIO_CONFIG_DIR, or the platform's config folder for alignment-studio."""
    return Path(os.environ.get("STUDIO_CONFIG_DIR") or platformdirs.user_config_dir("alignment-studio"))


def _path() -> Path:
    return config_dir() / "recent.json"


def recent_projects() -> list[Path]:
    """Project folders, most recent first; ones that are gone or no longer projects are left out."""
    try:
        names = json.loads(_path().read_text(encoding="utf-8")).get("projects", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [Path(n) for n in names if isinstance(n, str) and (Path(n) / META_NAME).is_file()]


def remember_project(root: str | Path) -> None:
    """Put `root` first in the list (best effort: an unwritable config folder is ignored)."""
    root = Path(root).resolve()
    projects = [str(root)] + [str(p) for p in recent_projects() if p.resolve() != root]
    try:
        _path().parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(_path()) as f:
            json.dump({"projects": projects[:KEEP]}, f, indent=2)
    except OSError:
        pass
