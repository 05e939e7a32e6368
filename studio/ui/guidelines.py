"""The project's labelling guidelines (Markdown), shown beside the Rank page and edited in place."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QPlainTextEdit, QPushButton, QStackedWidget, QTextBrowser,
                               QVBoxLayout, QWidget)

from studio.core.active import guidelines, set_guidelines
from studio.core.store import StoreError

if TYPE_CHECKING:
    from studio.ui.context import StudioContext

PLACEHOLDER = ("No guidelines yet. Write down what a good answer is, so every annotator (and you, next "
               "week) ranks by the same rules: Edit…")


class GuidelinesPanel(QGroupBox):
    """Read the guidelines as rendered Markdown; Edit switches to the text, Save stores it at once."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__("Guidelines", parent)
        self.ctx = ctx
        self.view = QTextBrowser(openExternalLinks=False, toolTip="What to prefer, as agreed for this project")
        self.editor = QPlainTextEdit(placeholderText="Markdown: # headings, - lists, **bold**",
                                     toolTip="The guidelines as Markdown text")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.editor)
        self.edit_button = QPushButton("Edit…", toolTip="Change the guidelines (all annotators see the change)")
        self.edit_button.clicked.connect(self.toggle)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.edit_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        self.show_text()

    @property
    def editing(self) -> bool:
        return self.stack.currentWidget() is self.editor

    def show_text(self) -> None:
        text = guidelines(self.ctx.store)
        if text.strip():
            self.view.setMarkdown(text)
        else:
            self.view.setPlainText(PLACEHOLDER)
        self.stack.setCurrentWidget(self.view)
        self.edit_button.setText("Edit…")

    def toggle(self) -> None:
        """Edit…: show the Markdown text; Save: store it and show it rendered."""
        if not self.editing:
            self.editor.setPlainText(guidelines(self.ctx.store))
            self.stack.setCurrentWidget(self.editor)
            self.edit_button.setText("Save")
            self.editor.setFocus()
            return
        try:
            set_guidelines(self.ctx.store, self.editor.toPlainText())
        except StoreError as exc:
            self.ctx.error.emit(f"Guidelines not saved: {exc}")
            return
        self.show_text()
