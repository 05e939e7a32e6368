"""The Export PNG / Export CSV buttons of the charts: ask where to save, check the path, then hand it to the export."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

from studio.core.project import Project

FILTERS = {".png": "PNG images (*.png)", ".csv": "CSV files (*.csv)"}


def ask_save(parent: QWidget, title: str, name: str, export: Callable[[Path], object], project: Project,
             refused: Callable[[str], object]) -> None:
    """Ask for a file to save, suggesting `name` (whose suffix picks the filter); `export(path)` once one is chosen
    and `project.check_output` passes it (the dialog already asked before replacing a file), else `refused(line)`."""
    path, _ = QFileDialog.getSaveFileName(parent, title, name, FILTERS[Path(name).suffix])
    if not path:
        return
    try:
        target = project.check_output(path, force=True)
    except ValueError as exc:
        refused(str(exc))
        return
    export(target)


def export_button(parent: QWidget, title: str, name: str, export: Callable[[Path], object], project: Project,
                  refused: Callable[[str], object], **kw) -> QPushButton:
    """An "Export PNG…" or "Export CSV…" button (by `name`'s suffix) that asks where, checks the path as
    `ask_save` does, then calls `export(path)`; a refused path goes to `refused` and nothing is written."""
    text = f"Export {Path(name).suffix[1:].upper()}…"
    return QPushButton(text, clicked=lambda: ask_save(parent, title, name, export, project, refused), **kw)
