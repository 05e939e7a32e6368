"""The Demonstrations page: write the answers you want the model to give (the data for SFT).

Edits save themselves 0.8 s after typing stops, when another demonstration is selected, when the
page is left, and at once on Save (Ctrl+S). A pause is the natural end of an edit, so nothing typed
lives only in the widget for long, and a refused edit (an empty prompt or response) changes nothing
and says why under the editor. A new demonstration enters the store at its first valid save.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout, QWidget)

from studio.core.import_export import export_demos, import_demos
from studio.core.records import Demo
from studio.core.store import Store, StoreError
from studio.ui.context import StudioContext
from studio.ui.theme import set_role

AUTOSAVE_MS = 800
JSONL_FILTER = "JSON Lines (*.jsonl);;All files (*)"


def render_chatml(prompt: str, response: str, system: str | None = None) -> str:
    """The conversation as ChatML text, the way a ChatML chat template renders it (no tokenizer needed)."""
    turns = ([("system", system)] if system else []) + [("user", prompt), ("assistant", response)]
    return "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in turns)


def _title(demo: Demo) -> str:
    first = demo.prompt.strip().splitlines()[0] if demo.prompt.strip() else "(empty)"
    return first if len(first) <= 80 else first[:79] + "…"


class DemosPage(QWidget):
    """A searchable list of demonstrations beside an editor and its ChatML preview."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._current: int | None = None   # id in the editor; None while it holds a new, unsaved demo
        self._system: str | None = None    # the current demo's system message (shown, not edited)
        self._dirty = False
        self._loading = False
        self._deleted: list[Demo] = []     # undo stack for Delete
        self._demos: dict[int, Demo] = {}  # the listed demonstrations by id
        self._timer = QTimer(self, singleShot=True, interval=AUTOSAVE_MS, timeout=lambda: self.save(quiet=True))
        self._build()
        ctx.data_changed.connect(self.refresh)
        self.refresh()
        self._select_first()

    # -- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        split = QSplitter()
        split.addWidget(self._list_column())
        split.addWidget(self._editor())
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        for keys, slot in [("Ctrl+N", self.new_demo), (QKeySequence.StandardKey.Save, self.save),
                           (QKeySequence.StandardKey.Undo, self.undo_delete)]:
            QShortcut(QKeySequence(keys), self, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def _list_column(self) -> QWidget:
        """Search box, the demonstrations, their count, and Add/Delete/Import/Export."""
        self.filter = QLineEdit(placeholderText="Search prompts and responses…", clearButtonEnabled=True)
        self.filter.setToolTip("Show only demonstrations whose prompt or response contains this text")
        self.filter.textChanged.connect(self._on_filter)
        self.list = QListWidget()
        self.list.setToolTip("Your demonstrations; select one to edit it")
        # queued: saving rebuilds the list, which must not happen inside the list's own signal
        self.list.itemSelectionChanged.connect(self._on_select, Qt.ConnectionType.QueuedConnection)
        self.count = QLabel()
        buttons = QHBoxLayout()
        for text, tip, slot in [
            ("Add", "Start a new demonstration (Ctrl+N)", self.new_demo),
            ("Delete", "Delete the selected demonstration (Ctrl+Z brings it back)", self.delete),
            ("Import…", "Add demonstrations from a JSONL file (prompt/completion or messages)",
             lambda: self.import_jsonl()),
            ("Export…", "Write every demonstration to a JSONL file (prompt/completion)",
             lambda: self.export_jsonl()),
        ]:
            button = QPushButton(text, toolTip=tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.filter)
        col.addWidget(self.list, 1)
        col.addWidget(self.count)
        col.addLayout(buttons)
        return left

    def _editor(self) -> QWidget:
        """The selected demonstration's prompt and response, Save, and the text as the model sees it."""
        self.prompt_edit = QPlainTextEdit(placeholderText="What the user asks…")
        self.prompt_edit.setToolTip("The prompt: what the user says to the model")
        self.response_edit = QPlainTextEdit(placeholderText="The answer you want the model to give…")
        self.response_edit.setToolTip("The response you want: SFT teaches the model to answer like this")
        for edit in (self.prompt_edit, self.response_edit):
            edit.textChanged.connect(self._on_edit)
        self.save_button = QPushButton("Save", toolTip="Save now (Ctrl+S); edits also save themselves "
                                                        "a moment after you stop typing")
        self.save_button.clicked.connect(self.save)
        self.message = QLabel(wordWrap=True)
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setToolTip("The text the model trains on; SFT learns only the assistant part")
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_button)
        save_row.addWidget(self.message, 1)
        right = QWidget()
        form = QVBoxLayout(right)
        form.setContentsMargins(0, 0, 0, 0)
        form.addWidget(QLabel("<b>Prompt</b>"))
        form.addWidget(self.prompt_edit, 1)
        form.addWidget(QLabel("<b>Response</b>"))
        form.addWidget(self.response_edit, 2)
        form.addLayout(save_row)
        form.addWidget(QLabel("As the model will see it (ChatML)"))
        form.addWidget(self.preview, 1)
        return right

    # -- list -----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the list from the store, keeping the selection; the editor is left alone."""
        demos = self.ctx.store.demos(self.filter.text().strip() or None)
        self._demos = {d.id: d for d in demos}
        self.list.blockSignals(True)
        self.list.clear()
        for demo in demos:
            item = QListWidgetItem(_title(demo))
            item.setData(Qt.ItemDataRole.UserRole, demo.id)
            item.setToolTip(demo.prompt[:300])
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._select(self._current)
        found = len(demos)
        self.count.setText(f"{found} found" if self.filter.text().strip()
                           else f"{found} demonstration{'s' * (found != 1)}")

    def _on_filter(self) -> None:
        """Save the edit in progress, filter the list, and let the editor follow it: a demonstration the
        filter hides leaves the editor (for the first one shown), so Delete or typing never acts on it."""
        saved = self.save()
        self.refresh()
        if saved and self._current is not None and self._current not in self._demos:
            self._select_first()

    def _select_first(self) -> None:
        first = self.list.item(0)
        self._load(self._demos.get(first.data(Qt.ItemDataRole.UserRole)) if first else None)
        self._select(self._current)

    def _on_select(self) -> None:
        """Save the edit in progress, then show the newly selected demonstration (queued after the click)."""
        item = self.list.currentItem()
        demo_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        if demo_id is None or demo_id == self._current:
            return
        if not self.save():  # a refused edit keeps its demonstration selected
            self._select(self._current)
            return
        self._load(self._demos.get(demo_id))
        self._select(demo_id)

    def _select(self, demo_id: int | None) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentItem(None)
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == demo_id:
                self.list.setCurrentRow(row)
        self.list.blockSignals(False)

    # -- editor ---------------------------------------------------------------------------------------
    def _load(self, demo: Demo | None) -> None:
        """Show `demo` in the editor, or an empty new one."""
        self._timer.stop()
        self._loading = True
        self._current = demo.id if demo else None
        self._system = demo.system if demo else None
        self.prompt_edit.setPlainText(demo.prompt if demo else "")
        self.response_edit.setPlainText(demo.response if demo else "")
        self._loading = False
        self._dirty = False
        self._update_preview()

    def _on_edit(self) -> None:
        self._update_preview()
        if not self._loading:
            self._dirty = True
            self._timer.start()

    def _update_preview(self) -> None:
        self.preview.setPlainText(render_chatml(self.prompt_edit.toPlainText(),
                                                self.response_edit.toPlainText(), self._system))

    def _say(self, text: str, error: bool = False) -> None:
        set_role(self.message, "error" if error else "muted")
        self.message.setText(text)

    def save(self, quiet: bool = False) -> bool:
        """Write the editor to the store now; a refused edit shows why, changes nothing and returns False.

        `quiet` (the autosave): a refusal is a neutral note, since the user may still be typing."""
        self._timer.stop()
        prompt, response = self.prompt_edit.toPlainText(), self.response_edit.toPlainText()
        if not self._dirty or (self._current is None and not prompt.strip() and not response.strip()):
            return True
        try:
            if self._current is None:
                self._current = self.ctx.store.add_demo(prompt, response)
            else:
                self.ctx.store.update_demo(self._current, prompt, response)
        except (ValueError, LookupError, StoreError) as exc:
            self._say(f"Not saved yet: {exc}" if quiet else f"Not saved: {exc}", error=not quiet)
            return False
        self._dirty = False
        self._say("Saved.")
        self.ctx.data_changed.emit()
        return True

    def new_demo(self) -> None:
        """Save the current edit, then start an empty demonstration."""
        if not self.save():
            return
        self._load(None)
        self._select(None)
        self._say("New demonstration: it is saved once both fields are filled in.")
        self.prompt_edit.setFocus()

    def delete(self) -> None:
        """Delete the demonstration in the editor (a new one is just discarded); Ctrl+Z undoes."""
        if self._current is None:
            self._load(None)
            self._say("Discarded the unsaved demonstration.")
            return
        self.save()
        try:
            demo = self.ctx.store.delete_demo(self._current)
        except (LookupError, StoreError) as exc:
            self._say(f"Not deleted: {exc}", error=True)
            return
        self._deleted.append(demo)
        self._load(None)
        self.ctx.data_changed.emit()
        self._select_first()
        self._say(f"Deleted “{_title(demo)}”. Ctrl+Z brings it back.")
        self.list.setFocus()

    def undo_delete(self) -> None:
        """Put back the last deleted demonstration and select it."""
        if not self._deleted:
            self._say("Nothing to undo.")
            return
        if not self.save():
            return
        demo = self._deleted.pop()
        try:
            self.ctx.store.restore_demo(demo)
        except (ValueError, StoreError) as exc:
            self._say(f"Could not restore: {exc}", error=True)
            return
        self._load(demo)
        self.ctx.data_changed.emit()
        self.list.setFocus()
        self._say(f"Restored “{_title(demo)}”.")

    def hideEvent(self, event) -> None:
        self.save()
        super().hideEvent(event)

    # -- files (in background jobs) -------------------------------------------------------------------
    def import_jsonl(self, path: str | None = None) -> None:
        """Add the demonstrations of a JSONL file (all or nothing), in the background."""
        path = path or QFileDialog.getOpenFileName(self, "Import demonstrations", "", JSONL_FILTER)[0]
        if not path:
            return
        self._file_job(lambda store: import_demos(store, path), "Importing demonstrations…",
                       lambda n: f"Imported {n} demonstrations from {Path(path).name}.",
                       "Import failed, nothing added")

    def export_jsonl(self, path: str | None = None) -> None:
        """Write every demonstration to a JSONL file, in the background."""
        if not self.save():
            return
        path = path or QFileDialog.getSaveFileName(self, "Export demonstrations", "demonstrations.jsonl",
                                                   JSONL_FILTER)[0]
        if not path:
            return
        self._file_job(lambda store: export_demos(  # the dialog asked before replacing a file
                           store, self.ctx.project.check_output(path, force=True)),
                       "Exporting demonstrations…",
                       lambda n: f"Exported {n} demonstrations to {Path(path).name}.", "Export failed")

    def _file_job(self, work: Callable[[Store], int], busy: str, done: Callable[[int], str], failed: str) -> None:
        """Run `work` on the job's own store connection; `done(result)` or the error goes to the
        message line (the page refreshes when any job ends)."""
        job = self.ctx.run(lambda jc: work(jc.project.store), needs_model=False, own_errors=True)
        job.finished.connect(lambda n: self._say(done(n)))
        job.failed.connect(lambda text: self._say(f"{failed}: {text}", error=True))
        self.ctx.busy.emit(busy)
        job.start()
