"""Train page: start / stop / resume a run of the kind set up in `train_setup.TrainSetup`, and watch it live.

Training runs in a job (`studio.workers.model_jobs.train_job`); its metrics and samples arrive as signals and
feed the charts and the samples table, so reward hacking shows while it happens. Past runs come
from the store: selecting one shows its recorded curves and samples.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from studio.core.rounds import next_action, next_step, online_run
from studio.core.records import Run
from studio.core.reward_terms import uses_reward_model
from studio.core.run_kinds import REWARD, run_kind
from studio.ui.config_form import ConfigForm
from studio.ui.context import StudioContext
from studio.ui.plots import MetricsBoard, save_image, write_csv
from studio.ui.rm_report_panel import AlarmList, RMReportPanel
from studio.ui.run_progress import RunProgress
from studio.ui.run_tables import RunHistory, SamplesTable
from studio.ui.save_dialog import export_button
from studio.ui.settings import set_project_value
from studio.ui.theme import set_role
from studio.ui.train_charts import EvalNote, groups, label_eval_series
from studio.ui.train_setup import TrainSetup
from studio.workers.job import Job
from studio.workers.model_jobs import round_job, train_job

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

        self.setup = TrainSetup(ctx)
        self.kind, self.init_combo, self.reward_combo = self.setup.kind, self.setup.init_combo, self.setup.reward_combo
        self.terms = self.setup.terms

        self.start_button = QPushButton("Start", clicked=self.start,
                                        toolTip="Start a new run of the chosen kind with these settings; it trains "
                                                "in the background and its curves appear on the right.")
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False,
                                       toolTip="Stop now: the step or round under way is dropped and the run "
                                               "keeps its last finished one as a checkpoint, to be resumed.")
        self.resume_button = QPushButton("Resume", clicked=self.resume, enabled=False,
                                         toolTip="Continue the selected stopped or failed run from its last "
                                                 "checkpoint.")
        self.round_button = QPushButton("Next round", clicked=self.next_round, enabled=False,
                                        toolTip="Iterated RLHF after the latest PPO/RLOO/GRPO run, in two steps: "
                                                "sample the next round (gold checks, and comparisons mixing the "
                                                "policy's answers with its start's, its alarms' prompts first, at the "
                                                "head of the Rank queue), rank them, then train the round (the reward "
                                                "model again on every label, the policy on from the run, the same KL "
                                                "reference).")
        self.run_progress = RunProgress()
        self.progress, self.status = self.run_progress.bar, self.run_progress.status
        self.error = QLabel(wordWrap=True, visible=False,
                            textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.error, "error")

        self.board = MetricsBoard(columns=4)
        self.shown = QLabel()
        self.eval_note = EvalNote(self.board)
        self.png_button = export_button(self, "Export charts", "training.png", self.export_png,
                                       ctx.project, self._show_error,
                                       toolTip="Save the charts shown, titled with their run, as one PNG image.")
        self.csv_button = export_button(self, "Export metrics", "training.csv", self.export_csv,
                                       ctx.project, self._show_error,
                                       toolTip="Save every metric of the run shown as CSV: one row per step.")
        self.samples = SamplesTable()
        self.history = RunHistory()
        self.history.itemSelectionChanged.connect(self._on_history_selected)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.samples, "PPO samples")
        self.tabs.addTab(self.history, "Run history")
        self.alarms = AlarmList()
        self.alarms.round_requested.connect(self.round_after)
        self.rm_report = RMReportPanel(ctx)
        self.tabs.addTab(self.alarms, "Alarms")
        self.tabs.addTab(self.rm_report, "Reward model health")

        self._lay_out()
        self.setup.kind_changed.connect(self._on_kind_changed)
        self._on_kind_changed(self.selected_kind)
        ctx.data_changed.connect(self.refresh)
        self.refresh()

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        left = QVBoxLayout()
        left.addWidget(self.setup, 1)
        left.addLayout(buttons)
        left.addWidget(self.round_button)
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
        return self.setup.selected_kind

    @property
    def form(self) -> ConfigForm:
        return self.setup.form

    def set_kind(self, kind: str) -> None:
        self.setup.set_kind(kind)

    def _on_kind_changed(self, kind: str) -> None:
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
        self.setup.fill_choices(runs)
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
            kind, fraction = self.selected_kind, self.setup.eval_fraction()
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
            self.setup.show_settings(run)
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
            terms = self.setup.reward_terms() if run_kind(kind).online else None
            missing = self.setup.missing_data(kind, terms)
        except ValueError as exc:  # a term that cannot be read, a reference answer missing
            missing = str(exc)
        if missing:
            self._show_error(missing)
            return None
        init, reward = self.setup.sources_of(kind)
        reward = reward if terms is None or uses_reward_model(terms) else None
        self._show_board(kind, f"New {kind.upper()} run (live)")
        texts = [t.text for t in terms] if terms else None
        return self._run(train_job(kind, values, init=init, reward=reward, terms=texts), None,
                         f"Training {kind.upper()}")

    def next_round(self) -> Job | None:
        """Sample the round after the latest online run, or train the round sampled after it."""
        run = self._round_run()
        return self.round_after(run.id) if run is not None else None

    def round_after(self, run_id: int) -> Job | None:
        """Sample or train the round after online run `run_id` (the round button's latest run, an alarm's own)."""
        if self.job is not None:
            return None
        action = next_action(self.ctx.store, self.ctx.store.run(run_id))
        return self._run(round_job(run_id, action), None, f"{action.capitalize()} the round after run {run_id}")

    def _round_run(self) -> Run | None:
        try:
            return online_run(self.ctx.store, None)
        except ValueError:
            return None

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
        self._end(result.get("note") or f"Run {run} {status} at step {result.get('step')}.")
        if status == "diverged":
            self._show_error(f"Run {run} diverged: {result.get('error')}")

    def _on_failed(self, message: str) -> None:
        self._end("Training failed.")
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self._end("Stopped; a checkpoint was saved. Select the run below and press Resume to go on.")

    def _end(self, text: str) -> None:
        self.job = None
        self.run_progress.end(text)  # the charts draw their last points in their turns (MetricsBoard)
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
        self.setup.kind.setEnabled(idle)
        self.alarms.set_idle(idle)
        after = self._round_run()
        self.round_button.setEnabled(idle and after is not None)
        if after is not None:
            action, penalty = next_step(self.ctx.store, after)
            cautious = ", cautious reward" if penalty else ""
            self.round_button.setText(f"{action.capitalize()} next round (after run {after.id}{cautious})")

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

