"""A dialog listing the models found on this computer (HF cache, LM Studio, Ollama, recent projects).

The scan runs in a background job (`workers.find_models_job`); the table fills when it ends. Models the
studio cannot train stay listed, greyed, with the reason in their last column.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from studio.workers.model_jobs import find_models_job

COLUMNS = ["Name", "Where", "Architecture", "Parameters", "On disk", "Training"]


class ModelPicker(QDialog):
    """Pick a local model; `chosen` carries its path."""

    chosen = Signal(str)

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Models on this computer")
        self.resize(980, 420)
        self.models: list[dict] = []
        self.status = QLabel("Looking in the Hugging Face cache, LM Studio, Ollama and recent projects…")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self._accept())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setText("Use this model")
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(False)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.status, self.table, self.buttons):
            layout.addWidget(widget)
        self.job = ctx.run(find_models_job(), needs_model=False)
        self.job.finished.connect(self.show_models)
        self.job.failed.connect(self.status.setText)
        self.job.start()

    def show_models(self, models: list[dict]) -> None:
        self.models = models
        self.table.setRowCount(len(models))
        for row, m in enumerate(models):
            params = f"{m['params'] / 1e6:,.0f} M" if m["params"] else "?"
            cells = [m["name"], m["source"], m["architecture"], params, f"{m['size_bytes'] / 2**20:,.0f} MB",
                     m["verdict"]]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(m["path"])
                if not m["trainable"]:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                    item.setForeground(self.palette().placeholderText())
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        usable = sum(m["trainable"] for m in models)
        self.status.setText(f"{len(models)} models found, {usable} trainable here." if models else
                            "No models found in the Hugging Face cache, LM Studio, Ollama or recent projects.")

    def _selection_changed(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(bool(self.table.selectedItems()))

    def _accept(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if rows:
            self.chosen.emit(self.models[rows.pop()]["path"])
            self.accept()
