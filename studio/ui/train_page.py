"""Train page: pick an engine, set its options, start / stop / resume a run and watch it live.

Training runs in a job (`studio.workers.train_job`); its metrics and samples arrive as signals and
feed the charts and the samples table, so reward hacking shows while it happens. Past runs come
from the store: selecting one shows its recorded curves and samples.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from studio.core.ratings import Ratings
from studio.core.records import Run
from studio.core.reward_terms import TERMS_KEY, terms_for_run, uses_reward_model
from studio.core.run_kinds import KINDS, REWARD, SFT, run_kind
from studio.ui.config_form import ConfigForm
from studio.ui.context import StudioContext
from studio.ui.plots import MetricsBoard, save_image, write_csv
from studio.ui.rm_report_panel import AlarmList, RMReportPanel
from studio.ui.run_progress import RunProgress
from studio.ui.run_tables import RunHistory, SamplesTable
from studio.ui.settings import project_value, set_project_value
from studio.ui.theme import set_role
from studio.ui.train_charts import EvalNote, groups, label_eval_series, summary
from studio.workers import Job, config_fields, train_job

# "running" with no job in this window means the process died mid-run (crash, kill): resumable.
RESUMABLE = ("cancelled", "failed", "running")


class TrainPage(QWidget):
    """Configure and run every kind of training run (`studio.core.run_kinds`); watch curves and samples live."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.job: Job | None = None
        self._live_run: int | None = None  # the run id of the running job, once known
        self._shown_run: int | None = None  # the run whose curves are on the board

        self.kind = QComboBox()
        for kind in KINDS.values():
            self.kind.addItem(kind.title, kind.name)
        self.form_area = QScrollArea(widgetResizable=True)
        self.form: ConfigForm | None = None
        self.init_combo = QComboBox(toolTip="The policy to start from. PPO, DPO, RLOO and KTO normally start from "
                                            "the SFT model, which also serves as the reference the KL is measured against.")
        self.reward_combo = QComboBox(toolTip="The reward model whose scores PPO or RLOO maximises.")
        sources = QFormLayout()
        sources.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # each choice gets the full width
        sources.addRow("Start from", self.init_combo)
        sources.addRow("Reward model", self.reward_combo)
        self.terms = QPlainTextEdit(placeholderText="rm", toolTip="The reward's terms, one per line: "
                                    "[WEIGHT*]TERM, e.g. 0.5*rm, rule:shorter:200, 2*rule:number (against the "
                                    "prompts' reference answers). Empty: the reward model alone. Each term is "
                                    "plotted as reward/<term>.")
        self.terms.setMaximumHeight(72)
        sources.addRow("Reward terms", self.terms)
        self.sources = QWidget()
        self.sources.setLayout(sources)

        self.start_button = QPushButton("Start", clicked=self.start,
                                        toolTip="Start a new run of the chosen kind with these settings; it trains "
                                                "in the background and its curves appear on the right.")
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False,
                                       toolTip="Stop after the current step; a checkpoint is saved so the run "
                                               "can be resumed.")
        self.resume_button = QPushButton("Resume", clicked=self.resume, enabled=False,
                                         toolTip="Continue the selected stopped or failed run from its last "
                                                 "checkpoint.")
        self.run_progress = RunProgress()
        self.progress, self.status = self.run_progress.bar, self.run_progress.status
        self.error = QLabel(wordWrap=True, visible=False,
                            textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.error, "error")

        self.board = MetricsBoard(columns=4)
        self.shown = QLabel()
        self.eval_note = EvalNote(self.board)
        self.png_button = QPushButton("Export PNG…", clicked=self._ask_png,
                                      toolTip="Save the charts shown, titled with their run, as one PNG image.")
        self.csv_button = QPushButton("Export CSV…", clicked=self._ask_csv,
                                      toolTip="Save every metric of the run shown as CSV: one row per step.")
        self.samples = SamplesTable()
        self.history = RunHistory()
        self.history.itemSelectionChanged.connect(self._on_history_selected)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.samples, "PPO samples")
        self.tabs.addTab(self.history, "Run history")
        self.alarms = AlarmList()
        self.rm_report = RMReportPanel(ctx)
        self.tabs.addTab(self.alarms, "Alarms")
        self.tabs.addTab(self.rm_report, "Reward model health")

        self._lay_out()
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        ctx.data_changed.connect(self.refresh)
        remembered = project_value(ctx.project.root, "train/kind")
        if remembered in KINDS:
            self.set_kind(remembered)
        self._on_kind_changed()
        self.refresh()

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        left = QVBoxLayout()
        left.addWidget(self.kind)
        left.addWidget(self.form_area, 1)
        left.addWidget(self.sources)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        left.addWidget(self.error)
        controls = QWidget()
        controls.setLayout(left)

        header = QHBoxLayout()
        header.addWidget(self.shown, 1)
        header.addWidget(self.png_button)
        header.addWidget(self.csv_button)
        charts = QWidget()
        top = QVBoxLayout(charts)
        top.setContentsMargins(0, 0, 0, 0)
        top.addLayout(header)
        top.addWidget(self.eval_note)
        top.addWidget(self.board, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(charts)
        right.addWidget(self.tabs)
        right.setSizes([520, 260])

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(controls)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    # -- the form --------------------------------------------------------------------------------------
    @property
    def selected_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    def _on_kind_changed(self) -> None:
        kind = self.selected_kind
        self.form = ConfigForm(config_fields(kind))
        saved = project_value(self.ctx.project.root, f"train/{kind}")
        if isinstance(saved, dict):
            self.form.set_values(saved)
        self.form_area.setWidget(self.form)
        spec = run_kind(kind)
        self.sources.setVisible(spec.starts_from_policy)
        for field in (self.reward_combo, self.terms):
            field.setVisible(spec.online)
            self.sources.layout().labelForField(field).setVisible(spec.online)
        if self.job is None:
            self._shown_run = None
            self._show_board(kind, f"New {kind.upper()} run: press Start")
        self._update_eval_note()

    def _show_board(self, kind: str, caption: str) -> None:
        online = run_kind(kind).online
        self.board.set_groups(groups(kind), "iteration" if online else "step")
        self.eval_note.split = None
        label_eval_series(self.board, kind, None, "")
        self.samples.setRowCount(0)
        self.tabs.setTabVisible(self.tabs.indexOf(self.samples), online)
        self.tabs.setTabText(self.tabs.indexOf(self.samples), f"{kind.upper()} samples")
        self.shown.setText(caption)

    # -- store views -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read run history and the run choices from the store."""
        runs = self.ctx.store.runs()
        _fill_combo(self.init_combo, [("Latest SFT run (base model if none)", None), ("Base model (no SFT)", "base")]
                    + [(f"SFT run {r.id}", str(r.id)) for r in reversed(runs)
                       if r.kind == SFT and r.status == "finished"])
        _fill_combo(self.reward_combo, [("Latest reward model", None)]
                    + [(f"Reward run {r.id}{summary(r, 1, ' · ')}", str(r.id)) for r in reversed(runs)
                       if r.kind == REWARD and r.status == "finished"])
        self.history.fill(runs, self._shown_run)
        self._update_buttons()
        self._update_eval_note()

    def _update_eval_note(self) -> None:
        """The held-out size behind the eval figures of the run shown, as it recorded them (before it has, or for
        a new run with the form's settings: the split of the project's data as it is now), beside the charts,
        in their legends and tooltips."""
        run = self.ctx.store.run(self._shown_run) if self._shown_run is not None else None
        if run is not None:
            kind, fraction = run.kind, run.config.get("eval_fraction")
        else:
            editor = self.form.editors.get("eval_fraction")
            kind, fraction = self.selected_kind, editor[1].value() if editor else None
        self.eval_note.show_for(self.ctx.store, kind, fraction)

    def selected_run(self) -> Run | None:
        run_id = self.history.selected_id()
        if run_id is None:
            return None
        try:
            return self.ctx.store.run(run_id)
        except LookupError:
            return None

    def show_run(self, run_id: int) -> None:
        """Show a stored run's curves, samples and (when idle) its settings in the form."""
        run = self.ctx.store.run(run_id)
        self._shown_run = run.id
        if self.job is None:
            self.set_kind(run.kind)
            self.form.set_values(run.config)
            self.init_combo.setCurrentIndex(max(self.init_combo.findData(run.config.get("_init")), 0))
            self.reward_combo.setCurrentIndex(max(self.reward_combo.findData(run.config.get("_reward")), 0))
            self.terms.setPlainText("\n".join(run.config.get(TERMS_KEY) or []))
        self._show_board(run.kind, f"Run {run.id} · {run.kind.upper()} · {run.status}")
        rows = self.ctx.store.metrics(run.id)
        self.board.load(rows)
        self.eval_note.take_split({row["name"]: row["value"] for row in rows})  # the last recorded of each
        self._update_eval_note()
        for sample in self.ctx.store.samples(run.id):
            self.samples.add(sample["step"], sample)
        if run_kind(run.kind).online:
            self.tabs.setCurrentWidget(self.samples)
        self._show_oversight(run)

    def _on_history_selected(self) -> None:
        run = self.selected_run()
        if run is not None and self.job is None:
            self.show_run(run.id)
        self._update_buttons()

    # -- running ---------------------------------------------------------------------------------------
    def start(self) -> Job | None:
        """Start a new run of the selected kind with the form's settings."""
        if self.job is not None:
            return None
        kind = self.selected_kind
        try:
            values = self.form.values()
        except ValueError as exc:
            self._show_error(str(exc))
            return None
        set_project_value(self.ctx.project.root, f"train/{kind}", values)
        set_project_value(self.ctx.project.root, "train/kind", kind)
        try:
            terms = self.reward_terms() if run_kind(kind).online else None
            missing = self._missing_data(kind)
        except ValueError as exc:  # a term that cannot be read, a reference answer missing
            missing = str(exc)
        if missing:
            self._show_error(missing)
            return None
        init = self.init_combo.currentData() if run_kind(kind).starts_from_policy else None
        reward = self.reward_combo.currentData() if terms is None or uses_reward_model(terms) else None
        self._show_board(kind, f"New {kind.upper()} run (live)")
        texts = [t.text for t in terms] if terms else None
        return self._run(train_job(kind, values, init=init, reward=reward, terms=texts), None,
                         f"Training {kind.upper()}")

    def reward_terms(self) -> list | None:
        """The checked terms of the "Reward terms" field (`core.reward_terms`); ValueError with one line."""
        texts = [line for line in self.terms.toPlainText().splitlines() if line.strip()]
        return terms_for_run(self.ctx.store, texts)

    def _missing_data(self, kind: str) -> str:
        """Why a `kind` run cannot start on this project's data ("" when it can)."""
        spec = run_kind(kind)
        if spec.needs:
            counts = {**self.ctx.store.counts(), **Ratings(self.ctx.store).counts()}
            return "" if any(counts[name] for name in spec.learns_from.counts) else spec.needs
        if spec.online and self.reward_combo.count() <= 1 and uses_reward_model(self.reward_terms()):
            return f"Train a reward model first: {kind.upper()} maximises its score."
        return ""

    def resume(self) -> Job | None:
        """Resume the run selected in the history from its checkpoint."""
        run = self.selected_run()
        if run is None or run.status not in RESUMABLE or self.job is not None:
            return None
        self.show_run(run.id)
        self.shown.setText(f"Run {run.id} · {run.kind.upper()} · resumed (live)")
        return self._run(train_job(run.kind, resume=run.id), run.id, f"Resuming run {run.id} ({run.kind.upper()})")

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.run_progress.show(stopping=True)
            self.stop_button.setEnabled(False)

    def _stopping(self) -> bool:
        return self.job is not None and self.job.stop_requested()

    def _on_message(self, text: str) -> None:
        self.run_progress.message(text, self._stopping())

    def _run(self, fn, run_id: int | None, title: str) -> Job:
        self.error.hide()
        self._live_run = run_id
        self.run_progress.begin()
        job = self.ctx.run(fn, needs_model=True, title=title)
        job.message.connect(self._on_message)
        job.metrics.connect(self._on_metrics)
        job.samples.connect(self._on_samples)
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.job = job
        self._update_buttons()
        job.start()
        return job

    def _show_oversight(self, run: Run) -> None:
        """The run's hacking alarms (brought to the front when new ones came), and a reward model's report."""
        shown_before = self.alarms.shown
        count = self.alarms.show_run(self.ctx.store, run.id)
        self.tabs.setTabText(self.tabs.indexOf(self.alarms), f"Alarms ({count})" if count else "Alarms")
        if run.kind == REWARD and run.status == "finished":
            self.rm_report.show_run(run.id)
            self.tabs.setCurrentWidget(self.rm_report)
        elif count and self.alarms.shown != shown_before:
            self.tabs.setCurrentWidget(self.alarms)

    def _on_metrics(self, step: int, values: dict) -> None:
        self.board.add(step, values)
        if self.eval_note.take_split(values):
            self._update_eval_note()
        if self._live_run is not None:
            self._show_oversight(self.ctx.store.run(self._live_run))
        if self._live_run is None:  # the engine created the run row by now: list it
            self.refresh()
            running = [r for r in self.ctx.store.runs(self.selected_kind) if r.status == "running"]
            self._live_run = running[-1].id if running else None
            self._shown_run = self._live_run
            if self._live_run is not None:
                self.refresh()
                self.shown.setText(f"Run {self._live_run} · {self.selected_kind.upper()} · training (live)")

    def _on_samples(self, step: int, rows: list) -> None:
        for row in rows:
            self.samples.add(step, row)
        self.samples.scrollToBottom()
        if self._live_run is not None:  # the monitor has read these samples by now
            self._show_oversight(self.ctx.store.run(self._live_run))

    def _on_progress(self, step: int, total: int) -> None:
        self.run_progress.step(step, total, self._stopping())

    def _on_finished(self, result: dict) -> None:
        self._live_run = self._shown_run = result.get("run_id")  # known for sure now, however short the run
        run, status = result.get("run_id"), result.get("status")
        self._end(f"Run {run} {status} at step {result.get('step')}.")
        if status == "diverged":
            self._show_error(f"Run {run} diverged: {result.get('error')}")

    def _on_failed(self, message: str) -> None:
        self._end("Training failed.")
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self._end("Stopped; a checkpoint was saved. Select the run below and press Resume to go on.")

    def _end(self, text: str) -> None:
        self.job = None
        self.run_progress.end(text)
        self.board.redraw()
        self.refresh()
        if self._live_run is not None:
            run = self.ctx.store.run(self._live_run)
            self.shown.setText(f"Run {run.id} · {run.kind.upper()} · {run.status}")
            self._show_oversight(run)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _update_buttons(self) -> None:
        idle = self.job is None
        run = self.selected_run()
        self.start_button.setEnabled(idle)
        self.stop_button.setEnabled(not idle and not self.job.stop_requested())
        self.resume_button.setEnabled(idle and run is not None and run.status in RESUMABLE
                                      and not self.ctx.project.run_is_live(run.id))
        self.kind.setEnabled(idle)

    # -- export ----------------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> Job:
        """Save the charts as one PNG (rendered here, written in a job)."""
        image = self.board.image(title=self.shown.text().replace(" (live)", ""))
        return self._export(lambda _ctx: str(save_image(image, path)))

    def export_csv(self, path: str | Path) -> Job:
        """Save every metric of the shown run as CSV: step + one column per metric."""
        header, rows = self.board.table()
        return self._export(lambda _ctx: str(write_csv(path, header, rows)))

    def _export(self, fn) -> Job:
        job = self.ctx.run(fn, needs_model=False)
        job.finished.connect(lambda path: self.status.setText(f"Saved {path}"))
        job.failed.connect(self._show_error)
        return job.start()

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export charts", "training.png", "PNG images (*.png)")
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "training.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)


def _fill_combo(combo: QComboBox, items: list[tuple[str, str | None]]) -> None:
    """Replace the items, keeping the current choice when it is still there."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for label, data in items:
        combo.addItem(label, data)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)
