"""The Export PNG / Export CSV buttons of the charts: ask where to save, then hand the path to the export."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

FILTERS = {".png": "PNG images (*.png)", ".csv": "CSV files (*.csv)"}


def ask_save(parent: QWidget, title: str, name: str, export: Callable[[str], object]) -> None:
    """Ask for a file to save, suggesting `name` (whose suffix picks the filter); `export(path)` once one is chosen."""
    path, _ = QFileDialog.getSaveFileName(parent, title, name, FILTERS[Path(name).suffix])
    if path:
        export(path)


def export_button(parent: QWidget, title: str, name: str, export: Callable[[str], object], **kw) -> QPushButton:
    """An "Export PNG…" or "Export CSV…" button (by `name`'s suffix) that asks where, then calls `export(path)`."""
    text = f"Export {Path(name).suffix[1:].upper()}…"
    return QPushButton(text, clicked=lambda: ask_save(parent, title, name, export), **kw)
