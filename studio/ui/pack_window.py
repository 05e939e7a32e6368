"""A labelling-only window on a pack file: the Rank page (with the guidelines) and the Rate page, as
tabs with the main window's keys (Ctrl+2, Ctrl+3); no model, no torch.

Every decision goes straight into the pack (one SQLite file, committed at once), so a crash loses
nothing; `studio pack import` merges it back into the project it came from.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

from studio.core.packs import PackError, open_pack
from studio.core.store import Store
from studio.ui.rank_page import RankPage
from studio.ui.rate_page import RatePage
from studio.ui.theme import set_role

PACK_FILTER = "Labelling packs (*.pack);;All files (*)"


class PackContext(QObject):
    """What the Rank and Rate pages need from a context, on a pack: the store, the annotator and the signals.
    There is no model, so nothing runs in the background."""

    data_changed = Signal()
    model_changed = Signal(dict)
    error = Signal(str)
    busy = Signal(str)
    job_started = Signal(object)

    def __init__(self, path: str | Path, annotator: str = "me", parent: QObject | None = None):
        super().__init__(parent)
        self.path = Path(path)
        self.store: Store = open_pack(self.path)
        self.annotator = annotator
        self.jobs: list = []

    def running(self) -> list:
        return []

    def run(self, fn, needs_model: bool = True):
        raise RuntimeError("a labelling pack has no model: generate answers in the project instead")

    def shutdown(self) -> None:
        self.store.close()


class PackWindow(QMainWindow):
    """The Rank and Rate pages on a labelling pack."""

    def __init__(self, ctx: PackContext):
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"Alignment Studio — labelling pack {ctx.path.name}")
        self.resize(1200, 780)
        self.rank_page = RankPage(ctx, labelling_only=True)
        self.rate_page = RatePage(ctx, labelling_only=True)
        self.tabs = QTabWidget(documentMode=True)
        self.setCentralWidget(self.tabs)
        saved = QLabel(f"Every decision is saved into {ctx.path} at once")
        set_role(saved, "muted")
        self.statusBar().addPermanentWidget(saved)
        ctx.error.connect(lambda text: self.statusBar().showMessage(text, 15000))
        file = self.menuBar().addMenu("&File")
        file.addAction("Close pack", QKeySequence.StandardKey.Close, self.close)
        go = self.menuBar().addMenu("&Go")
        for key, name, page in (("Ctrl+2", "Rank", self.rank_page), ("Ctrl+3", "Rate", self.rate_page)):
            self.tabs.addTab(page, name)
            action = QAction(name, self, shortcut=QKeySequence(key))  # the main window's keys for these pages
            action.triggered.connect(lambda _=False, page=page: self.tabs.setCurrentWidget(page))
            go.addAction(action)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.ctx.shutdown()
        event.accept()


def open_pack_window(path: str | Path, annotator: str, on_error: Callable[[str], None]) -> PackWindow | None:
    """Show a pack in its own window, or report why it cannot be opened (one line)."""
    try:
        window = PackWindow(PackContext(path, annotator))
    except PackError as exc:
        on_error(str(exc))
        return None
    window.show()
    return window
