"""Compare page: one prompt, several policies side by side, each answer streamed in as it is written.

The chosen policies run one after another (they share the model anyway); when a reward model is
chosen, its score appears under each answer.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QPushButton, QScrollArea, QSpinBox, QSplitter,
                               QVBoxLayout, QWidget)

from studio.core.records import Run
from studio.core.run_kinds import REWARD, SFT, kinds
from studio.ui.context import StudioContext
from studio.workers.job import Job
from studio.workers.model_jobs import stream_job

PANE_MIN_WIDTH = 200  # four panes and the controls fit a 1280 px window


class AnswerPane(QGroupBox):
    """One policy's answer, filled piece by piece, with its reward score underneath."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        self.text = QPlainTextEdit(readOnly=True)
        self.score = QLabel("waiting…")
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.score)
        self.setMinimumWidth(PANE_MIN_WIDTH)

    def append(self, piece: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(piece)
        self.text.setTextCursor(cursor)

    def done(self, result: dict) -> None:
        self.text.setPlainText(result["text"])
        score = result.get("reward")
        self.score.setText("" if score is None else f"Reward: {score:+.2f}")


class ComparePage(QWidget):
    """Ask one question to several policies and read their answers side by side."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.job: Job | None = None
        self.panes: list[AnswerPane] = []
        self._queue: list[tuple[str, AnswerPane]] = []
        self._prompt = ""

        self.prompt = QPlainTextEdit(placeholderText="Ask something… (Ctrl+Enter compares)")
        self.policies = QListWidget(toolTip="Tick the models to compare: the base model and finished runs.")
        self.reward = QComboBox(toolTip="Score every answer with this reward model (normalised: 0 = a typical "
                                        "training answer).")
        self._reward_picked = False  # a person chose one (perhaps none): keep it
        self.reward.activated.connect(lambda _index: setattr(self, "_reward_picked", True))
        self.temperature = QDoubleSpinBox(minimum=0.0, maximum=2.0, singleStep=0.1, value=0.0,
                                          specialValueText="0 (greedy)",
                                          toolTip="0 always picks the likeliest next token (same answer every "
                                                  "time); higher gives more varied answers.")
        self.max_tokens = QSpinBox(minimum=1, maximum=2048, value=128, toolTip="The longest answer, in tokens.")
        self.compare_button = QPushButton("Compare", clicked=self.compare, toolTip="Ctrl+Enter")
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False)
        self.status = QLabel(wordWrap=True)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.compare)

        self.pane_row = QHBoxLayout()
        panes = QWidget()
        panes.setLayout(self.pane_row)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(panes)
        self._lay_out(scroll)
        ctx.data_changed.connect(self.refresh)
        self.refresh()

    def _lay_out(self, scroll: QScrollArea) -> None:
        options = QFormLayout()
        options.addRow("Reward model", self.reward)
        options.addRow("Temperature", self.temperature)
        options.addRow("Max tokens", self.max_tokens)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.stop_button)
        left = QVBoxLayout()
        left.addWidget(QLabel("Prompt"))
        left.addWidget(self.prompt, 1)
        left.addWidget(QLabel("Policies"))
        left.addWidget(self.policies, 1)
        left.addLayout(options)
        left.addLayout(buttons)
        left.addWidget(self.status)
        controls = QWidget()
        controls.setLayout(left)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(controls)
        split.addWidget(scroll)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 1000])
        QVBoxLayout(self).addWidget(split)

    def refresh(self) -> None:
        """Re-read the finished runs; ticks survive and new runs start unticked. With nothing ticked yet, the base
        model and the latest run of each kind are; until one is picked, the reward model is the latest."""
        ticked = set(self.checked()) or {"base"} | set(latest_of_each_kind(self.ctx.store.runs()))
        runs = [r for r in reversed(self.ctx.store.runs()) if r.status == "finished"]
        policies = sorted((r for r in runs if r.kind in kinds(makes_policy=True)), key=lambda r: (r.kind != SFT, r.id))
        self.policies.clear()
        for label, policy in [("Base model", "base")] + [(_label(r), str(r.id)) for r in policies]:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, policy)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if policy in ticked else Qt.CheckState.Unchecked)
            self.policies.addItem(item)
        current = self.reward.currentData()
        self.reward.clear()
        self.reward.addItem("No reward model", None)
        for run in runs:
            if run.kind == REWARD:
                self.reward.addItem(_label(run), str(run.id))
        if current is None and not self._reward_picked:
            current = next((str(run.id) for run in runs if run.kind == REWARD), None)  # the latest
        self.reward.setCurrentIndex(max(self.reward.findData(current), 0))

    def checked(self) -> list[str]:
        """The ticked policies: "base" or run ids as text."""
        items = (self.policies.item(i) for i in range(self.policies.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    def set_checked(self, policies: list[str]) -> None:
        for i in range(self.policies.count()):
            item = self.policies.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in policies
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def compare(self) -> None:
        """One pane per ticked policy; answers are generated one policy after another."""
        prompt, policies = self.prompt.toPlainText().strip(), self.checked()
        if self.job is not None:
            return
        if not prompt or not policies:
            self.status.setText("Write a prompt and tick at least one policy.")
            return
        for pane in self.panes:
            self.pane_row.removeWidget(pane)
            pane.deleteLater()
        labels = {self.policies.item(i).data(Qt.ItemDataRole.UserRole): self.policies.item(i).text()
                  for i in range(self.policies.count())}
        self.panes = [AnswerPane(labels[p]) for p in policies]
        for pane in self.panes:
            self.pane_row.addWidget(pane)
        self._queue = list(zip(policies, self.panes))
        self._prompt = prompt
        self.compare_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._next()

    def stop(self) -> None:
        for _, pane in self._queue:
            pane.score.setText("not run")
        self._queue.clear()
        if self.job is not None:
            self.job.cancel()

    def _next(self) -> None:
        if not self._queue:
            self.job = None
            self.compare_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.status.setText("")
            return
        policy, pane = self._queue.pop(0)
        temperature = self.temperature.value()
        fn = stream_job(policy, self._prompt, self.reward.currentData(), max_new_tokens=self.max_tokens.value(),
                        temperature=temperature, do_sample=temperature > 0)
        pane.score.setText("writing…")
        self.status.setText(f"Generating: {pane.title()}")
        job = self.ctx.run(fn, needs_model=True, title=f"Comparing: {pane.title()}")
        job.partial.connect(pane.append)
        job.message.connect(self.status.setText)
        job.finished.connect(lambda result: (pane.done(result), self._next()))
        job.failed.connect(lambda message: (pane.score.setText(message), self._next()))
        job.cancelled.connect(lambda: (pane.score.setText("stopped"), self._next()))
        self.job = job
        job.start()


def latest_of_each_kind(runs: list[Run]) -> list[str]:
    """The ids (as text) of the latest finished run of each policy kind."""
    latest = {run.kind: str(run.id) for run in runs if run.kind in kinds(makes_policy=True) and run.status == "finished"}
    return list(latest.values())


def _label(run: Run) -> str:
    return f"{run.kind.upper()} run {run.id}"
