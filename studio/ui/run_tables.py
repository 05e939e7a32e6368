"""The Train page's tables: the run history (the shown run in bold) and the live samples of an online run."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from studio.core.records import Run
from studio.ui.train_charts import summary

MAX_SAMPLE_ROWS = 1000


class _Table(QTableWidget):
    """Read-only rows, one selected at a time, columns sized to their contents."""

    def __init__(self, headers: list[str]):
        super().__init__(0, len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)


class RunHistory(_Table):
    """Every run of the project, newest first; each cell carries its run id."""

    def __init__(self):
        super().__init__(["Run", "Kind", "Status", "Step", "Final metrics", "Started"])

    def selected_id(self) -> int | None:
        items = self.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def fill(self, runs: list[Run], shown: int | None) -> None:
        """Show `runs`, keeping the selected run selected (without a selection signal) and `shown` in bold."""
        selected = self.selected_id()
        self.blockSignals(True)
        self.setRowCount(0)
        for run in reversed(runs):
            row = self.rowCount()
            self.insertRow(row)
            cells = [str(run.id), run.kind.upper(), run.status, str(run.step), summary(run),
                     run.created[:16].replace("T", " ")]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, run.id)
                if run.error:
                    item.setToolTip(run.error)
                if run.id == shown:  # the run whose curves are shown stands out
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setToolTip(run.error or "Its curves are shown above")
                self.setItem(row, column, item)
            if run.id == selected:
                self.selectRow(row)
        self.blockSignals(False)


class SamplesTable(_Table):
    """An online run's answers with their rewards, the newest last; the oldest go beyond MAX_SAMPLE_ROWS."""

    def __init__(self):
        super().__init__(["Iteration", "Reward", "Prompt", "Response"])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._size_columns()

    def _size_columns(self) -> None:
        """Sized to the text size, not to the contents: measuring up to MAX_SAMPLE_ROWS rows at each new row took
        7 ms a row at 400 rows, on the GUI thread, while a run trains."""
        header, metrics = self.horizontalHeader(), self.fontMetrics()
        for column in (0, 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, max(header.sectionSizeHint(column), metrics.horizontalAdvance("+00.00") + 16))
        header.resizeSection(2, 24 * metrics.averageCharWidth())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # presenter mode, text size
            self._size_columns()

    def add(self, step: int, sample: dict) -> None:
        if self.rowCount() >= MAX_SAMPLE_ROWS:
            self.removeRow(0)
        row = self.rowCount()
        self.insertRow(row)
        reward = sample.get("reward")
        cells = [str(step), "" if reward is None else f"{reward:+.2f}", sample["prompt"], sample["response"]]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text.replace("\n", " ⏎ "))
            item.setToolTip(text)
            self.setItem(row, column, item)
