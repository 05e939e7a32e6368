"""Remembered settings (QSettings, an INI file in the user's config folder): the appearance for the
user, and the form values of each project (answer length, answers per prompt, training settings)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSpinBox

from studio.core.recent import config_dir


def settings() -> QSettings:
    """The studio's settings file ($STUDIO_CONFIG_DIR/settings.ini or the platform's config folder)."""
    return QSettings(str(config_dir() / "settings.ini"), QSettings.Format.IniFormat)


def _project_key(root: str | Path, name: str) -> str:
    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return f"project-{digest}/{name}"


def project_value(root: str | Path, name: str) -> object | None:
    """A value remembered for the project at `root` (None when there is none)."""
    text = settings().value(_project_key(root, name))
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def set_project_value(root: str | Path, name: str, value: object) -> None:
    """Remember `value` (JSON-able) for the project at `root`."""
    store = settings()
    store.setValue(_project_key(root, name), json.dumps(value))
    store.sync()


def remember_spin(spin: QSpinBox, root: str | Path, name: str) -> bool:
    """Restore `spin`'s value for this project and save every change; True when a value was restored."""
    value = project_value(root, name)
    restored = isinstance(value, int) and spin.minimum() <= value <= spin.maximum()
    if restored:
        spin.setValue(value)
    spin.valueChanged.connect(lambda v: set_project_value(root, name, v))
    return restored
