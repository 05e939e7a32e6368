"""Oversight views on the Train page: the reward model's health report and a run's hacking alarms.

`RMReportPanel` reads a reward run's held-out scores (written after training by
`training.rm_scoring`) in a job, computes the report with `core.rm_health` and draws the reliability
diagram and the score histograms with pyqtgraph; its worst pairs open a `RerankDialog`.
`AlarmList` shows the alarms the monitor stored for a run; under each that labels can answer, a button takes the
round after the run (`core.rounds.offer`), which samples the prompts the alarm flagged first.
"""
from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from studio.core.monitor import ROUND_SIGNALS
from studio.core.oversight_store import alarms
from studio.core.rounds import Offer, offer
from studio.core.rm_health import SCORES_FILE, RMReport, load_scored, rm_report
from studio.ui.context import StudioContext
from studio.ui.plots import COLOURS, save_image, write_csv
from studio.ui.save_dialog import export_button
from studio.ui.theme import role_colour, set_role



class RMReportPanel(QWidget):
    """Accuracy, calibration, score histograms, length bias and the worst held-out pairs of a reward run."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.report: RMReport | None = None
        self.run_id: int | None = None
        self.summary = QLabel("Select a finished reward run to see how well it ranks held-out pairs.",
                              wordWrap=True)
        self.warnings = QLabel(wordWrap=True, visible=False)
        set_role(self.warnings, "error")
        self.reliability = pg.PlotWidget(title="reliability (predicted vs observed win rate)")
        self.reliability.setLabel("bottom", "predicted P(win) = sigmoid(score gap)")
        self.reliability.setLabel("left", "observed win rate")
        self.reliability.setToolTip("Each dot is a bin of pairs: how sure the reward model was that an answer "
                                    "wins (x) against how often it really won (y). On the diagonal the model "
                                    "is calibrated; below it, over-confident.")
        self.histogram = pg.PlotWidget(title="scores of chosen vs rejected answers")
        self.histogram.addLegend(offset=(-10, 10))
        self.histogram.setToolTip("The two humps should sit apart: chosen answers scoring higher.")
        for plot in (self.reliability, self.histogram):
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setMinimumSize(260, 200)
        self.worst = QTableWidget(0, 4, editTriggers=QAbstractItemView.EditTrigger.NoEditTriggers,
                                  selectionBehavior=QAbstractItemView.SelectionBehavior.SelectRows)
        self.worst.setHorizontalHeaderLabels(["Gap", "Prompt", "Chosen (scored lower)", "Rejected (scored higher)"])
        header = self.worst.horizontalHeader()  # the gap as narrow as it is, the three texts share the rest
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.worst.verticalHeader().hide()
        self.worst.setToolTip("The held-out pairs the reward model gets most wrong. Double-click one to read "
                              "and re-rank it: perhaps the label, not the model, is wrong.")
        self.worst.cellDoubleClicked.connect(lambda row, _col: self.open_pair(row))
        self.png_button = export_button(self, "Export report", "reward_health.png", self.export_png, ctx.project,
                                        ctx.error.emit, enabled=False)
        self.csv_button = export_button(self, "Export report", "reward_health.csv", self.export_csv, ctx.project,
                                        ctx.error.emit, enabled=False)

        header = QHBoxLayout()
        header.addWidget(self.summary, 1)
        header.addWidget(self.png_button)
        header.addWidget(self.csv_button)
        plots = QHBoxLayout()
        plots.addWidget(self.reliability)
        plots.addWidget(self.histogram)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.warnings)
        layout.addLayout(plots, 2)
        layout.addWidget(self.worst, 1)

    def show_run(self, run_id: int):
        """Load and show reward run `run_id`'s report (read in a job); returns the job, or None."""
        self.run_id = run_id
        path = self.ctx.project.run_dir(run_id) / SCORES_FILE
        if not path.exists():
            self._set(None, f"Run {run_id} has no held-out scores (it did not finish, or predates the report).")
            return None

        def read(_ctx) -> tuple[int, RMReport]:
            pairs, split = load_scored(path)
            return run_id, rm_report(pairs, split=split)

        job = self.ctx.run(read, needs_model=False)
        job.finished.connect(self._on_read)  # methods, not lambdas: no call once the panel is gone
        job.failed.connect(self._on_failed)
        return job.start()

    def _on_read(self, result: tuple[int, RMReport]) -> None:
        run_id, report = result
        if run_id == self.run_id:  # still the run asked for
            self._set(report)

    def _on_failed(self, message: str) -> None:
        self._set(None, message)

    def _set(self, report: RMReport | None, message: str = "") -> None:
        self.report = report
        self.reliability.clear()
        self.histogram.clear()
        self.worst.setRowCount(0)
        self.png_button.setEnabled(report is not None)
        self.csv_button.setEnabled(report is not None)
        if report is None:
            self.summary.setText(message)
            self.warnings.hide()
            return
        corr = "n/a" if report.length_correlation is None else f"{report.length_correlation:+.2f}"
        self.summary.setText(f"Run {self.run_id}: <b>{report.accuracy_text()}</b> · ECE <b>{report.ece:.3f}</b> · "
                             f"Brier <b>{report.brier:.3f}</b> · length-gap vs score-gap r (within pairs) "
                             f"<b>{corr}</b>")
        self.warnings.setText("\n".join(f"⚠ {w}" for w in report.warnings))
        self.warnings.setVisible(bool(report.warnings))
        self.reliability.plot([0, 1], [0, 1], pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.reliability.plot([b.confidence for b in report.bins], [b.win_rate for b in report.bins],
                              pen=pg.mkPen(COLOURS[0], width=2), symbol="o", symbolBrush=COLOURS[0])
        for name, counts, colour in (("chosen", report.chosen_histogram, COLOURS[2]),
                                     ("rejected", report.rejected_histogram, COLOURS[3])):
            self.histogram.plot(report.histogram_edges, counts, stepMode="center", name=name,
                                pen=pg.mkPen(colour, width=2))
        for pair in report.worst:
            row = self.worst.rowCount()
            self.worst.insertRow(row)
            for column, text in enumerate([f"{pair.gap:+.2f}", pair.prompt, pair.chosen, pair.rejected]):
                item = QTableWidgetItem(text.replace("\n", " ⏎ "))
                item.setToolTip(text)
                self.worst.setItem(row, column, item)

    def open_pair(self, row: int) -> RerankDialog | None:
        """Open the comparison behind worst pair `row` for re-ranking (non-modal; returns the dialog)."""
        pair = self.report.worst[row] if self.report and 0 <= row < len(self.report.worst) else None
        if pair is None or pair.comparison_id is None:
            return None
        texts = self.ctx.store.comparison(pair.comparison_id).responses
        first = texts.index(pair.chosen) if pair.chosen in texts else None
        dialog = RerankDialog(self.ctx, pair.comparison_id, first, f"The reward model preferred the other "
                              f"answer (gap {pair.gap:+.2f}).", self)
        dialog.show()
        return dialog

    # -- export ----------------------------------------------------------------------------------------------
    def table(self) -> tuple[list[str], list[list]]:
        """The reliability bins and the score histograms as one CSV table."""
        rows = [["reliability", b.low, b.high, b.count, b.confidence, b.win_rate, b.weight] for b in self.report.bins]
        edges = self.report.histogram_edges
        rows += [[f"{name} scores", edges[i], edges[i + 1], count, "", "", ""]
                 for name, counts in (("chosen", self.report.chosen_histogram),
                                      ("rejected", self.report.rejected_histogram))
                 for i, count in enumerate(counts)]
        return ["table", "low", "high", "count", "mean_confidence", "win_rate", "weight"], rows

    def export_csv(self, path: str | Path):
        header, rows = self.table()
        return self._export(lambda _ctx: str(write_csv(path, header, rows)))

    def export_png(self, path: str | Path):
        image = self.grab().toImage()
        return self._export(lambda _ctx: str(save_image(image, path)))

    def _export(self, fn):
        job = self.ctx.run(fn, needs_model=False)
        job.finished.connect(lambda path: self.summary.setToolTip(f"Saved {path}"))
        return job.start()


class RerankDialog(QDialog):
    """Read a comparison again and re-rank it: drag the answers into order, best first."""

    def __init__(self, ctx: StudioContext, comparison_id: int, first: int | None, note: str,
                 parent: QWidget | None = None):
        super().__init__(parent, windowTitle=f"Re-rank comparison {comparison_id}")
        self.ctx = ctx
        self.comparison = ctx.store.comparison(comparison_id)
        texts = self.comparison.responses
        order = ([first] if first is not None else []) + [i for i in range(len(texts)) if i != first]
        self.answers = QListWidget(dragDropMode=QAbstractItemView.DragDropMode.InternalMove, wordWrap=True)
        for position in order:
            item = QListWidgetItem(texts[position])
            item.setData(Qt.ItemDataRole.UserRole, position)
            self.answers.addItem(item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Prompt: {self.comparison.prompt}", wordWrap=True,
                                textFormat=Qt.TextFormat.PlainText))
        layout.addWidget(QLabel(f"{note} Drag the answers into your order, best first, and save (as annotator "
                                f"{ctx.annotator!r}).", wordWrap=True))
        layout.addWidget(self.answers, 1)
        layout.addWidget(buttons)

    def order(self) -> list[list[int]]:
        return [[self.answers.item(i).data(Qt.ItemDataRole.UserRole)] for i in range(self.answers.count())]

    def accept(self) -> None:
        self.ctx.store.add_ranking(self.comparison.id, self.order(), self.ctx.annotator)
        self.ctx.data_changed.emit()
        super().accept()


ROUND_BUTTON = {"sample": "Label what the policy writes now (round after run {run})",
                "train": "Train the round after run {run} on your labels"}


class AlarmList(QListWidget):
    """The reward-hacking alarms of one run, newest last, each with the round it began and what to do, and under
    each that labels can answer (`monitor.ROUND_SIGNALS`) a button asking for the round after the run
    (`round_requested` with its id)."""

    round_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, wordWrap=True)
        self.shown: tuple[int | None, int] = (None, 0)  # (run id, alarms) on screen
        self.round_buttons: list[QPushButton] = []
        self._offer: Offer | None = None
        self._idle = True
        self.setToolTip("Warnings from the reward-hacking monitor, raised while PPO or RLOO runs from its metrics and "
                        "from the samples you read (answers collapsing, words that are not words, repeats, answers "
                        "off the prompt), kept with the run. Each names the comparisons to label next; under those "
                        "that labels can answer, a button samples the round after the run (their prompts first).")

    def show_run(self, store, run_id: int | None) -> int:
        """Show run `run_id`'s alarms; returns how many."""
        self.clear()
        found = [a for _, a in alarms(store, run_id)] if run_id is not None else []
        self.round_buttons = []
        answered = any(a.signal in ROUND_SIGNALS for a in found)
        self._offer = offer(store, run_id) if answered else None
        for alarm in found:
            action = alarm.action.replace(". Label next: ", "\n   → Label next: ")
            item = QListWidgetItem(f"⚠ {alarm.signal} (since round {alarm.began}): {alarm.message}\n   → {action}")
            item.setForeground(role_colour(self, "error"))
            self.addItem(item)
            if self._offer is not None and alarm.signal in ROUND_SIGNALS:
                self._add_round_button(self._offer)
        if not found:
            self.addItem("No alarms." if run_id is not None else "")
        self.shown = (run_id, len(found))
        return len(found)

    def _add_round_button(self, found: Offer) -> None:
        """A row under the alarm with the button that takes the round after its run (or says why it cannot)."""
        cautious = f", with the cautious reward (uncertainty_penalty {found.penalty})" if found.penalty else ""
        button = QPushButton(ROUND_BUTTON[found.action].format(run=found.run_id) + cautious,
                             toolTip=found.refused or "The Train page's round, after this alarm's run: gold checks "
                             "and comparisons of the policy's answers against its start's, the prompts this alarm "
                             "flagged first, at the head of the Rank queue; once ranked, train the round here.")
        button.clicked.connect(lambda: self.round_requested.emit(found.run_id))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(16, 0, 4, 6)
        layout.addWidget(button)
        layout.addStretch(1)
        item = QListWidgetItem()
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not selectable: the button is what it offers
        item.setSizeHint(row.sizeHint())
        self.addItem(item)
        self.setItemWidget(item, row)
        self.round_buttons.append(button)
        self._enable_rounds()

    def set_idle(self, idle: bool) -> None:
        """Whether a round may start now (no job of the page running)."""
        self._idle = idle
        self._enable_rounds()

    def _enable_rounds(self) -> None:
        for button in self.round_buttons:
            button.setEnabled(self._idle and self._offer is not None and self._offer.refused is None)
