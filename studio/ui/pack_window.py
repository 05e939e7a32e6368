"""A labelling-only window on a pack file: the Rank page and the guidelines, no model, no torch.

Every decision goes straight into the pack (one SQLite file, committed at once), so a crash loses
nothing; `studio pack import` merges it back into the project it came from.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow

from studio.core.packs import PackError, open_pack
from studio.core.store import Store
from studio.ui.rank_page import RankPage
from studio.ui.theme import set_role

PACK_FILTER = "Labelling packs (*.pack);;All files (*)"


class PackContext(QObject):
    """What the Rank page needs from a context, on a pack: the store, the annotator and the signals.
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
    """The Rank page on a labelling pack."""

    def __init__(self, ctx: PackContext):
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"Alignment Studio — labelling pack {ctx.path.name}")
        self.resize(1200, 780)
        self.rank_page = RankPage(ctx, labelling_only=True)
        self.setCentralWidget(self.rank_page)
        saved = QLabel(f"Every decision is saved into {ctx.path} at once")
        set_role(saved, "muted")
        self.statusBar().addPermanentWidget(saved)
        ctx.error.connect(lambda text: self.statusBar().showMessage(text, 15000))
        file = self.menuBar().addMenu("&File")
        file.addAction("Close pack", QKeySequence.StandardKey.Close, self.close)

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
