"""Oversight page: principles and AI labels, rule labellers, agreement with people, critique-and-revise,
and gold checks with the gold-vs-proxy curve.

Model work (judging, revising, answering for gold checks) and store scans run in jobs; the page only
shows their results. Machine labels are rankings by annotators `ai:<principle>` and `rule:<rule>`.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.core import oversight_store as ov
from studio.core.ai_feedback import agreements, disagreements, is_machine
from studio.core.gold import GoldPoint, gold_curve
from studio.core.rounds import round_points
from studio.core.rules import KINDS, Rule, label_with_rule
from studio.core.run_kinds import kinds
from studio.ui.context import StudioContext
from studio.ui.plots import TwoScalePlot, save_image, write_csv
from studio.ui.rm_report_panel import RerankDialog
from studio.ui.save_dialog import export_button
from studio.ui.theme import set_role
from studio.workers.job import Job, JobContext
from studio.workers.oversight_jobs import gold_job, judge_label_job, revise_job

RULE_HELP = {"longer": "the longer answer wins", "shorter": "the shorter answer wins",
             "contains": "answers containing the phrase win", "avoids": "answers without the phrase win",
             "regex": "answers matching the regular expression win"}


class OversightPage(QWidget):
    """Let written rules and principles label for you, see how they agree with people, and check PPO."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.gold: list[GoldPoint] = []
        self.disagreements: list[tuple[int, str, str, int]] = []
        self._labels_seen: tuple | None = None  # (count, last id) of the rankings the views were computed from
        self.message = QLabel(wordWrap=True)
        grid = QGridLayout(self)
        grid.addWidget(self._principles_box(), 0, 0)
        grid.addWidget(self._rule_box(), 1, 0)
        grid.addWidget(self._agreement_box(), 2, 0)
        grid.addWidget(self._revise_box(), 0, 1)
        grid.addWidget(self._gold_box(), 1, 1, 2, 1)
        grid.addWidget(self.message, 3, 0, 1, 2)
        ctx.data_changed.connect(self.refresh)
        self.refresh()

    # -- building ----------------------------------------------------------------------------------------
    def _principles_box(self) -> QGroupBox:
        box = QGroupBox("Principles and AI labels")
        self.principles = QListWidget(toolTip="Short written rules a judge model labels by, e.g. \"prefer the "
                                                    "answer that is correct and concise\".")
        self.principle_edit = QLineEdit(placeholderText="Write a principle and press Add")
        self.principle_edit.returnPressed.connect(self.add_principle)
        self.judge_edit = QLineEdit(placeholderText="the loaded model",
                                    toolTip="The judge: leave empty for the project's model, or give a model "
                                            "folder or a .gguf file.")
        browse = QPushButton("Folder…", clicked=self._browse_judge)
        self.limit = QSpinBox(minimum=1, maximum=100_000, value=50, toolTip="At most this many comparisons per click")
        self.ai_button = QPushButton("Let a model label", clicked=self.label_with_ai,
                                     toolTip="The judge reads each unlabelled comparison twice (answers swapped) "
                                             "and scores the letters A and B; a label is kept only when both "
                                             "readings agree. The rest stay for you.")
        row = QHBoxLayout()
        row.addWidget(self.principle_edit, 1)
        row.addWidget(QPushButton("Add", clicked=self.add_principle))
        row.addWidget(QPushButton("Delete", clicked=self.delete_principle))
        judge = QHBoxLayout()
        judge.addWidget(QLabel("Judge"))
        judge.addWidget(self.judge_edit, 1)
        judge.addWidget(browse)
        judge.addWidget(self.limit)
        judge.addWidget(self.ai_button)
        layout = QVBoxLayout(box)
        layout.addWidget(self.principles, 1)
        layout.addLayout(row)
        layout.addLayout(judge)
        return box

    def _rule_box(self) -> QGroupBox:
        box = QGroupBox("Rule labeller")
        self.rule_kind = QComboBox()
        for kind in KINDS:
            self.rule_kind.addItem(f"{kind}: {RULE_HELP[kind]}", kind)
        self.rule_argument = QLineEdit(placeholderText="phrase or pattern (contains, avoids, regex)")
        self.rule_button = QPushButton("Label with this rule", clicked=self.label_with_rule,
                                       toolTip="Rank every comparison the rule has not ranked yet (annotator "
                                               "rule:<rule>); comparisons it cannot tell apart stay unlabelled.")
        layout = QGridLayout(box)  # the rule above, its phrase box the width of the row below (large text fits)
        layout.addWidget(self.rule_kind, 0, 0, 1, 2)
        layout.addWidget(self.rule_argument, 1, 0)
        layout.addWidget(self.rule_button, 1, 1)
        layout.setColumnStretch(0, 1)
        return box

    def _agreement_box(self) -> QGroupBox:
        box = QGroupBox("Agreement of rules and principles with people")
        self.agreement = _table(["Labeller", "Person", "Shared", "Same best answer"])
        self.disagree = _table(["Comparison", "Labeller", "Prompt"])
        self.disagree.setToolTip("Where the AI and you disagree: double-click to read the comparison again and "
                                 "re-rank it (your ranking replaces your earlier one).")
        self.disagree.cellDoubleClicked.connect(lambda row, _col: self.open_disagreement(row))
        layout = QVBoxLayout(box)
        layout.addWidget(self.agreement)
        layout.addWidget(QLabel("Where the labellers and you disagree"))
        layout.addWidget(self.disagree)
        return box

    def _revise_box(self) -> QGroupBox:
        box = QGroupBox("Critique and revise")
        self.revise_prompt = QLineEdit(placeholderText="the prompt")
        self.revise_answer = QPlainTextEdit(placeholderText="an answer to improve")
        self.critique = QPlainTextEdit(readOnly=True, placeholderText="the judge's critique")
        self.revision = QPlainTextEdit(placeholderText="the revised answer (you may edit it)")
        self.revise_button = QPushButton("Critique and revise", clicked=self.critique_and_revise,
                                         toolTip="The judge critiques the answer against the selected principle, "
                                                 "then rewrites it.")
        self.save_demo_button = QPushButton("Save as demonstration", clicked=self.save_revision, enabled=False)
        form = QFormLayout(box)
        form.addRow("Prompt", self.revise_prompt)
        form.addRow("Answer", self.revise_answer)
        form.addRow("", self.revise_button)
        form.addRow("Critique", self.critique)
        form.addRow("Revision", self.revision)
        form.addRow("", self.save_demo_button)
        return box

    def _gold_box(self) -> QGroupBox:
        box = QGroupBox("Gold checks: rank what PPO writes")
        self.gold_run = QComboBox(toolTip="The PPO run whose latest round you want to check")
        self.gold_run.currentIndexChanged.connect(self.refresh_gold)
        self.gold_button = QPushButton("Make gold checks from its latest round", clicked=self.make_gold,
                                       toolTip="Pair each answer of the run's latest round with the starting "
                                               "policy's answer to the same prompt, as comparisons to rank on the "
                                               "Rank page.")
        self.gold_plot = TwoScalePlot("gold (your verdicts) vs proxy (reward model)", "PPO round",
                                      "gold: policy wins (share)", "proxy: reward-model score")
        self.gold_plot.setYRange(0, 1)
        self.gold_status = QLabel(wordWrap=True)
        self.round_plot = TwoScalePlot("rounds: gold and proxy against KL", "KL to the starting policy (nats)",
                                       "gold: policy wins (share)", "proxy: reward-model score")
        self.round_plot.setYRange(0, 1)  # gold on the left, in the colours of the curve above
        self.round_plot.setToolTip("One point per round of iterated RLHF (Train page, Next round) up to the selected "
                                   "run: the reward model's score and your gold win rate against how far the policy "
                                   "went from its start. Rounds stop when the gold win rate stops rising.")
        self.gold_plot.setToolTip("When the reward-model score keeps rising but your win rate for the policy "
                                  "stops rising, more PPO has stopped helping (Gao et al. 2022).")
        refused = partial(self._say, error=True)
        self.gold_png = export_button(self, "Export gold curve", "gold_vs_proxy.png", self.export_gold_png,
                                      self.ctx.project, refused)
        self.gold_csv = export_button(self, "Export gold curve", "gold_vs_proxy.csv", self.export_gold_csv,
                                      self.ctx.project, refused)
        top = QHBoxLayout()
        top.addWidget(self.gold_run, 1)
        top.addWidget(self.gold_button)
        exports = QHBoxLayout()
        exports.addStretch(1)
        exports.addWidget(self.gold_png)
        exports.addWidget(self.gold_csv)
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.gold_status)
        layout.addWidget(self.gold_plot, 1)
        layout.addWidget(self.round_plot, 1)
        layout.addLayout(exports)
        return box

    # -- store views -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        selected = self.selected_principle()
        self.principles.clear()
        for id, text in ov.principles(self.ctx.store):
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, id)
            self.principles.addItem(item)
            if text == selected:
                self.principles.setCurrentItem(item)
        current = self.gold_run.currentData()
        self.gold_run.blockSignals(True)
        self.gold_run.clear()
        for run in reversed([r for r in self.ctx.store.runs() if r.kind in kinds(gold_checks=True)]):
            self.gold_run.addItem(f"PPO run {run.id} · {run.status} · {run.step} rounds", run.id)
        self.gold_run.setCurrentIndex(max(self.gold_run.findData(current), 0))
        self.gold_run.blockSignals(False)
        # rescan only when the labels changed (data_changed also fires whenever any job ends)
        state = (*self.ctx.store.db.execute("SELECT COUNT(*), MAX(id) FROM rankings").fetchone(), self.ctx.annotator)
        if state != self._labels_seen:
            self._labels_seen = state
            self._show_agreement(_agreement_view(self.ctx.store, self.ctx.annotator))
            self.refresh_gold()

    def _show_agreement(self, view: tuple[list, list]) -> None:
        rows, disagreeing = view
        _fill(self.agreement, [[a.machine, a.human, str(a.shared), f"{a.agreement:.0%}"] for a in rows])
        self.disagreements = disagreeing
        _fill(self.disagree, [[str(cid), machine, prompt] for cid, machine, prompt, _ in disagreeing])

    def open_disagreement(self, row: int) -> RerankDialog:
        """Open disagreement `row` for re-ranking, the labeller's pick on top (non-modal; returns the dialog)."""
        cid, machine, _, best = self.disagreements[row]
        dialog = RerankDialog(self.ctx, cid, best, f"{machine} ranked another answer first than you did.", self)
        dialog.show()
        return dialog

    def refresh_gold(self) -> None:
        """Redraw the gold-vs-proxy curve of the selected PPO run and say how many of its gold checks are ranked
        (small queries: its gold checks' rankings)."""
        run_id = self.gold_run.currentData()
        self.gold_status.setText("" if run_id is None else gold_status(self.ctx.store, run_id))
        self._show_gold([] if run_id is None else gold_curve(self.ctx.store, run_id))
        rounds = [] if run_id is None else [p for p in round_points(self.ctx.store, self.ctx.store.run(run_id))
                                            if p.kl is not None]
        nan = float("nan")
        self.round_plot.set_data([p.kl for p in rounds], [nan if p.gold_win_rate is None else p.gold_win_rate
                                                          for p in rounds],
                                 [nan if p.proxy_reward is None else p.proxy_reward for p in rounds])

    def _show_gold(self, points: list[GoldPoint]) -> None:
        self.gold = points
        self.gold_plot.set_data([p.round for p in points], [p.gold_win_rate for p in points],
                                [p.proxy_reward for p in points])
        self.gold_png.setEnabled(bool(points))
        self.gold_csv.setEnabled(bool(points))

    def selected_principle(self) -> str | None:
        item = self.principles.currentItem()
        return item.text() if item else None

    # -- actions -----------------------------------------------------------------------------------------
    def add_principle(self) -> None:
        text = self.principle_edit.text().strip()
        if not text:
            self._say("Write the principle first, e.g. \"prefer the answer that is correct and concise\".", True)
            return
        ov.add_principle(self.ctx.store, text)
        self.principle_edit.clear()
        self.refresh()
        self.principles.setCurrentRow(self.principles.count() - 1)

    def delete_principle(self) -> None:
        item = self.principles.currentItem()
        if item is not None:
            ov.delete_principle(self.ctx.store, item.data(Qt.ItemDataRole.UserRole))
            self.refresh()

    def label_with_rule(self) -> Job | None:
        try:
            rule = Rule(self.rule_kind.currentData(), self.rule_argument.text().strip()).checked()
        except ValueError as exc:
            self._say(str(exc), True)
            return None

        def run(ctx: JobContext) -> str:
            labelled, left = label_with_rule(ctx.project.store, rule, progress=ctx.hooks.progress)
            return f"{rule.annotator} labelled {labelled} comparisons; {left} it cannot tell apart stay for you."
        return self._start(run, self._done, needs_model=False)

    def label_with_ai(self) -> Job | None:
        principle, judge_spec, limit = self.selected_principle(), self.judge_edit.text().strip(), self.limit.value()
        if principle is None:
            self._say("Select a principle first (or add one).", True)
            return None

        return self._start(judge_label_job(principle, judge_spec, limit), self._done, needs_model=not judge_spec)

    def critique_and_revise(self) -> Job | None:
        principle, judge_spec = self.selected_principle(), self.judge_edit.text().strip()
        prompt, answer = self.revise_prompt.text().strip(), self.revise_answer.toPlainText().strip()
        if principle is None or not prompt or not answer:
            self._say("Select a principle and write a prompt and an answer first.", True)
            return None

        return self._start(revise_job(principle, prompt, answer, judge_spec), self._show_revision,
                           needs_model=not judge_spec)

    def _show_revision(self, result: tuple[str, str]) -> None:
        self.critique.setPlainText(result[0])
        self.revision.setPlainText(result[1])
        self.save_demo_button.setEnabled(True)

    def save_revision(self) -> int | None:
        prompt, revision = self.revise_prompt.text().strip(), self.revision.toPlainText().strip()
        if not prompt or not revision:
            self._say("There is no revision to save.", True)
            return None
        demo = self.ctx.store.add_demo(prompt, revision)
        self.ctx.data_changed.emit()
        self._say(f"Saved the revision as demonstration {demo}.")
        return demo

    def make_gold(self) -> Job | None:
        run_id = self.gold_run.currentData()
        if run_id is None:
            self._say("There is no PPO run to check yet.", True)
            return None
        return self._start(gold_job(run_id), lambda made: self._gold_made(run_id, made), needs_model=True)

    def _gold_made(self, run_id: int, made: int) -> None:
        self._say("" if made else f"The latest round of run {run_id} is already in the gold checks.")
        self.ctx.data_changed.emit()
        self.refresh_gold()  # its line counts the new checks

    # -- export ------------------------------------------------------------------------------------------
    def export_gold_csv(self, path: str | Path) -> Job:
        rows = [[p.round, p.judged, p.gold_win_rate, p.proxy_reward, "" if p.kl is None else p.kl] for p in self.gold]
        header = ["round", "judged", "gold_win_rate", "proxy_reward", "kl"]
        return self._start(lambda _ctx: str(write_csv(path, header, rows)), self._done_saving, needs_model=False)

    def export_gold_png(self, path: str | Path) -> Job:
        image = self.gold_plot.grab().toImage()
        return self._start(lambda _ctx: str(save_image(image, path)), self._done_saving, needs_model=False)

    def _browse_judge(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Judge model folder")
        if folder:
            self.judge_edit.setText(folder)

    # -- jobs --------------------------------------------------------------------------------------------
    def _start(self, fn, on_done, needs_model: bool) -> Job:
        job = self.ctx.run(fn, needs_model=needs_model, own_errors=True)
        job.finished.connect(on_done)
        job.failed.connect(lambda message: self._say(message, True))
        return job.start()

    def _done(self, text: str) -> None:
        self._say(text)
        self.ctx.data_changed.emit()

    def _done_saving(self, path: str) -> None:
        self._say(f"Saved {path}")

    def _say(self, text: str, error: bool = False) -> None:
        set_role(self.message, "error" if error else "")
        self.message.setText(text)


def gold_status(store, run_id: int) -> str:
    """How many gold checks PPO run `run_id` has and how many of them people have ranked."""
    checks = ov.gold_checks(store, run_id)
    if not checks:
        return f"No gold checks of run {run_id} yet."
    ranked = sum(any(r.status == "ranked" and not is_machine(r.annotator) for r in store.rankings(c.comparison_id))
                 for c in checks)
    left = len(checks) - ranked
    return (f"{len(checks)} gold comparisons of run {run_id}: {ranked} ranked"
            + (f", {left} to rank on the Rank page." if left else "."))


def _agreement_view(store, annotator: str) -> tuple[list, list[tuple[int, str, str, int]]]:
    """Agreement rows, and (comparison id, labeller, prompt, labeller's best position) where it and
    `annotator` disagree (one pass over the rankings, as the Rank page's counters make)."""
    rankings = store.rankings()
    found = disagreements(rankings, annotator)
    machine_best = {(r.comparison_id, r.annotator): r.order[0][0] for r in rankings if r.order}
    return agreements(rankings), [(cid, machine, store.comparison(cid).prompt, machine_best[(cid, machine)])
                                  for cid, machine in found]


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(0)
    for cells in rows:
        r = table.rowCount()
        table.insertRow(r)
        for column, text in enumerate(cells):
            table.setItem(r, column, QTableWidgetItem(text))


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers), editTriggers=QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # a header's text fits at any text size
    header.setStretchLastSection(True)
    return table
