"""A labelling-only window on a pack file: the Rank page (with the guidelines) and the Rate page, as
tabs with the main window's keys (Ctrl+2, Ctrl+3); no model, no torch. Also the dialog that asks what
to put in a pack (File > Export labelling pack in the main window).

Every decision goes straight into the pack (one SQLite file, committed at once), so a crash loses
nothing; `studio pack import` merges it back into the project it came from, each label under the name
its labeller gave when the pack opened (asked once per pack, then remembered).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QInputDialog, QLabel, QLineEdit, QMainWindow, QPushButton, QSpinBox,
                               QWidget)

from studio.core.active import queue
from studio.core.packs import PackError, open_pack
from studio.core.ratings import Ratings
from studio.core.store import Store
from studio.ui.page_tabs import PageTabs
from studio.ui.rank_page import RankPage
from studio.ui.rate_page import RatePage
from studio.ui.settings import settings
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
        self.tabs = PageTabs(documentMode=True)
        self.setCentralWidget(self.tabs)
        saved = QLabel(f"Labelling as {ctx.annotator} · every decision is saved into {ctx.path} at once")
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


def open_pack_window(path: str | Path, annotator: str | None, on_error: Callable[[str], None],
                     parent: QWidget | None = None) -> PackWindow | None:
    """Show a pack in its own window, or report why it cannot be opened (one line). Without an `annotator`, ask
    for the labeller's name (the last one given for this pack is offered); None when the question is cancelled."""
    try:
        ctx = PackContext(path, annotator or "")
    except PackError as exc:
        on_error(str(exc))
        return None
    if annotator is None:
        name = ask_annotator(ctx.path, parent)
        if name is None:
            ctx.shutdown()
            return None
        ctx.annotator = name
    window = PackWindow(ctx)
    window.show()
    return window


def _pack_key(path: Path) -> str:
    return "pack-" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16] + "/annotator"


def ask_annotator(path: Path, parent: QWidget | None = None) -> str | None:
    """The labeller's name for pack `path`, asked until one is given (remembered for this pack); None if cancelled."""
    store = settings()
    name = str(store.value(_pack_key(path), ""))
    while True:
        name, ok = QInputDialog.getText(parent, "Labelling pack", "Your name: every label you make in this pack "
                                        "carries it, so its owner can tell your labels from theirs.", text=name)
        if not ok:
            return None
        if name.strip():
            store.setValue(_pack_key(path), name.strip())
            store.sync()
            return name.strip()


@dataclass
class PackRequest:
    """What File > Export labelling pack asks for: `studio pack export`'s options (None: all of them)."""

    out: str
    count: int | None
    answers: int | None
    order: str


class PackExportDialog(QDialog):
    """Ask for a pack's comparisons, extra answers to rate, their order and the file, as `studio pack export`."""

    def __init__(self, unranked: int, unrated: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export labelling pack")
        self.count = QSpinBox(maximum=unranked, value=unranked, suffix=f" of {unranked} unranked",
                              toolTip="At most this many comparisons to rank (like --count)")
        self.answers = QSpinBox(maximum=unrated, value=unrated, suffix=f" of {unrated} unrated",
                                toolTip="At most this many answers nobody has rated, besides those of the comparisons "
                                        "(like --answers)")
        self.order = QComboBox(toolTip="Which comparisons go first when not all of them go (like --order)")
        self.order.addItem("In the order they were made", "arrival")
        self.order.addItem("Those the latest reward model is least sure about first", "uncertain")
        self.out = QLineEdit(placeholderText="the pack file to write")
        browse = QPushButton("Choose…", clicked=self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.out, 1)
        file_row.addWidget(browse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.out.textChanged.connect(self._update)
        form = QFormLayout(self)
        form.addRow("Comparisons", self.count)
        form.addRow("More answers to rate", self.answers)
        form.addRow("Order", self.order)
        form.addRow("File", file_row)
        form.addRow(self.buttons)
        self._update()

    @classmethod
    def for_store(cls, store: Store, parent: QWidget | None = None) -> PackExportDialog:
        """The dialog offering `store`'s unranked comparisons and the unrated answers that are in none of them."""
        unranked = queue(store, None, "arrival")
        in_comparisons = {(c.prompt, text) for c in unranked for text in c.responses}
        unrated = {(item.prompt, item.response) for item in Ratings(store).unrated(None)} - in_comparisons
        return cls(len(unranked), len(unrated), parent)

    def _browse(self) -> None:
        path = QFileDialog.getSaveFileName(self, "Export labelling pack", "labels.pack", PACK_FILTER)[0]
        if path:
            self.out.setText(path)

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.out.text().strip()))

    def request(self) -> PackRequest:
        """The options as `packs.export_pack` takes them (all of them: None)."""
        return PackRequest(self.out.text().strip(),
                           None if self.count.value() == self.count.maximum() else self.count.value(),
                           None if self.answers.value() == self.answers.maximum() else self.answers.value(),
                           self.order.currentData())
