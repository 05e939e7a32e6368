"""What the Rank and Rate pages share: their base class, a read-only answer pane, a numbered answer to pick, the demo
dialog."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QVBoxLayout, QWidget)

from studio.core.store import StoreError
from studio.ui.theme import scaled_font, set_role

if TYPE_CHECKING:
    from studio.ui.context import StudioContext

ORDINALS = ["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th"]


class LabellingPage(QWidget):
    """A page labelled with single keys: shown, it takes the keyboard focus and re-reads what is left to label
    (`refresh`)."""

    ctx: StudioContext
    annotator: QLineEdit      # the annotator box the page builds

    def refresh(self) -> None:
        raise NotImplementedError

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.setFocus()
        self.refresh()

    def _annotator_bar(self, who: str, counted: str) -> QHBoxLayout:
        """The top bar's start: the annotator box (tooltip `who`) and the counters (tooltip `counted`)."""
        self.annotator = QLineEdit(self.ctx.annotator, maximumWidth=160, toolTip=who)
        self.annotator.editingFinished.connect(self._set_annotator)
        self.counters = QLabel(toolTip=counted)
        top = QHBoxLayout()
        top.addWidget(QLabel("Annotator:"))
        top.addWidget(self.annotator)
        top.addSpacing(16)
        top.addWidget(self.counters)
        return top

    def _set_annotator(self) -> None:
        """Take the name typed in the annotator box (an empty box shows the current one again); a new annotator
        starts afresh (`_forget_decisions`) on what is left for them."""
        name = self.annotator.text().strip()
        if not name:
            self.annotator.setText(self.ctx.annotator)
            return
        if name != self.ctx.annotator:
            self.ctx.annotator = name
            self._forget_decisions()
            self.refresh()

    def _forget_decisions(self) -> None:
        """Drop what the page remembers of the previous annotator's decisions (`refresh` may do it instead)."""


def reader(text: str = "") -> QPlainTextEdit:
    """A read-only, word-wrapped, mouse-selectable text pane that leaves the rank keys to the page."""
    view = QPlainTextEdit(text, readOnly=True)
    view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    scaled_font(view, 1.15)
    return view


class ResponsePane(QFrame):
    """One numbered answer with its place in the ranking so far; `pick` and `make_demo` get its index (0-based),
    and without `make_demo` (a pack brings back labels only) it offers no demonstration."""

    def __init__(self, number: int, text: str, pick: Callable[[int], None],
                 make_demo: Callable[[int], None] | None = None, cut_at: int | None = None):
        super().__init__(frameShape=QFrame.Shape.StyledPanel)
        self.header = QLabel()
        self.view = reader(text)
        self.cut = QLabel(f"… (cut at {cut_at} tokens)", wordWrap=True, toolTip=(
            f"This answer was still going when it reached the longest answer length ({cut_at} tokens), so it stops "
            "mid-sentence: judge what it says, not where it stops, or skip it (S). A longer Answer length under "
            "Generate answers lets answers finish."))
        set_role(self.cut, "notice")
        self.pick_button = QPushButton(f"Pick ({number})",
                                       toolTip=f"The best of the answers not picked yet; same as pressing {number}")
        self.pick_button.clicked.connect(lambda: pick(number - 1))
        demo = QPushButton("Make this a demonstration…",
                           toolTip="“This is what it should have said”: edit this answer into a demonstration")
        if make_demo is None:
            demo.hide()
        else:
            demo.clicked.connect(lambda: make_demo(number - 1))
        self.number = number
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.cut)
        layout.addWidget(self.pick_button)
        layout.addWidget(demo)
        self.cut.setVisible(cut_at is not None)  # once in the pane: shown alone, it would open as a window
        self.set_place(None)

    def set_place(self, place: int | None) -> None:
        """Mark this answer as picked at `place` (0 = best), or not picked."""
        picked = place is not None
        self.header.setText(f"<span style='font-size:16pt'><b>{self.number}</b></span>"
                            + (f"&nbsp;&nbsp;✓ {ORDINALS[place]}" if picked else ""))
        set_role(self.header, "picked" if picked else "")
        self.pick_button.setEnabled(not picked)



class DemoDialog(QDialog):
    """Edit an answer into a demonstration; saving adds it to the store."""

    def __init__(self, ctx: StudioContext, prompt: str, response: str, parent: QWidget | None = None):
        super().__init__(parent, windowTitle="Make this a demonstration")
        self.ctx = ctx
        self.demo_id: int | None = None
        self.prompt_edit = QPlainTextEdit(prompt, toolTip="The prompt of the demonstration")
        self.response_edit = QPlainTextEdit(response, toolTip="Rewrite this into what the model should have said")
        self.message = QLabel(wordWrap=True)
        set_role(self.message, "error")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Prompt</b>"))
        layout.addWidget(self.prompt_edit, 1)
        layout.addWidget(QLabel("<b>What it should have said</b>"))
        layout.addWidget(self.response_edit, 3)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.resize(640, 480)

    def accept(self) -> None:
        """Add the demonstration; a refused one (empty text) keeps the dialog open and says why."""
        try:
            self.demo_id = self.ctx.store.add_demo(self.prompt_edit.toPlainText(),
                                                   self.response_edit.toPlainText())
        except (ValueError, StoreError) as exc:
            self.message.setText(f"Not saved: {exc}")
            return
        self.ctx.data_changed.emit()
        super().accept()

