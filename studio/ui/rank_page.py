"""The Rank page: the labelling loop behind the reward model and DPO.

The prompt on top, its K answers side by side; keys decide: 1..K the best, then the next best… (the
last is implied), T all tie, B all bad, S skip, Ctrl+Z undo. Every decision is written to the store at
once and the next comparison appears. The queue keeps ahead of you: while fewer than READY_AHEAD comparisons are
ready, more are generated in the background (never on this thread), so the loop does not stall. An answer cut
mid-sentence at the answer length says so under its text.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QSizePolicy, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from studio.core.ai_feedback import suggestion_text
from studio.core.records import Comparison
from studio.core.store import StoreError
from studio.ui.answer_widgets import DemoDialog, LabellingPage, ResponsePane, reader
from studio.ui.generate_panel import GeneratePanel
from studio.ui.guidelines import GuidelinesPanel
from studio.ui.rank_queue import DISAGREE, Decision, LabelQueue
from studio.ui.theme import set_role

if TYPE_CHECKING:  # the labelling-only pack window starts without the workers (superqt) and the model host
    from studio.ui.context import StudioContext
    from studio.workers.job import Job

# The queue keeps ahead of the person, counted in decisions: when fewer than READY_AHEAD comparisons are ready, a job
# generates answers to REFILL_PROMPTS more prompts. At 1.5 s a decision, 12 comparisons last 18 s, longer than the
# largest call (32 answers of 48 tokens: 8-17 s on a quiet 2-core CPU, bench/RESULTS.md section 21) takes, so a
# refill lands before the ready ones run out; a job of 16 prompts (calls of 8, 8 and 16 answers) is as long as a
# training job started meanwhile waits for the model. bench/fast_ranker.py, 20 decisions at 1.5 s, 2 cores at load
# 6-8: 3 waits (50 s) after the first comparison, against 9 (106 s) generating 2 prompts when fewer than 2 are ready.
READY_AHEAD = 12
REFILL_PROMPTS = 16
PACK_DONE = ("Every label is saved in the pack file the moment you make it: when you are done, close the pack and "
             "send the file back to whoever made it (they merge it with “pack import”).")


def _describe(order: list[list[int]], status: str) -> str:
    if status != "ranked":
        return {"skip": "skipped", "all_bad": "all bad"}[status]
    if len(order) == 1:
        return "all tie"
    return " > ".join(" = ".join(str(p + 1) for p in group) for group in order)


class RankPage(LabellingPage):
    """Rank K answers to one prompt at a time, with keys; generation runs ahead in the background
    (not when `labelling_only`: a labelling pack has no model)."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None, labelling_only: bool = False):
        super().__init__(parent)
        self.ctx = ctx
        self.labelling_only = labelling_only
        self.comparison: Comparison | None = None
        self.picked: list[int] = []                  # positions pressed so far, best first
        self.panes: list[ResponsePane] = []
        self._decisions: list[Decision] = []         # for undo
        self.queue = LabelQueue(ctx)
        self.queue.combo.activated.connect(lambda _i: self._queue_chosen())
        self._job: Job | None = None
        self._auto = not labelling_only              # prefetch allowed (off after a failed generation)
        self._queued: int | None = None              # prompts of a Generate pressed while generating
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build()
        ctx.data_changed.connect(self.refresh)
        self.refresh()

    # -- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        top = self._annotator_bar("Who is ranking: each annotator ranks every comparison once",
                                  "Your decisions today and in all, and comparisons left for you")
        self.agreement = QLabel(toolTip="How often the annotators of this comparison pick the same best answer")
        self.preparing = QLabel("preparing next…", toolTip="Answers are being generated in the background")
        set_role(self.preparing, "muted")
        self.preparing.hide()
        top.addSpacing(16)
        top.addWidget(self.queue.combo)
        top.addSpacing(16)
        top.addWidget(self.agreement)
        top.addStretch(1)
        top.addWidget(self.preparing)

        self.prompt_view = reader()
        self.prompt_view.setMaximumHeight(120)
        self.prompt_view.setToolTip("The prompt all the answers below respond to")
        self.splitter = QSplitter(childrenCollapsible=False)
        self.empty = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.splitter)

        actions = QHBoxLayout()
        for text, tip, slot in [
            ("Tie (T)", "All answers are equally good", self.tie),
            ("All bad (B)", "None of the answers is acceptable", self.all_bad),
            ("Skip (S)", "Do not rank this one", self.skip),
            ("Undo (Ctrl+Z)", "Take back the last key or the last decision", self.undo),
        ]:
            button = QPushButton(text, toolTip=tip)
            button.clicked.connect(slot)
            actions.addWidget(button)
        self.hint = QLabel()
        set_role(self.hint, "muted")
        actions.addWidget(self.hint, 1)
        self.message = QLabel(wordWrap=True)

        main = QVBoxLayout()
        main.addLayout(top)
        main.addWidget(QLabel("<b>Prompt</b>"))
        main.addWidget(self.prompt_view)
        main.addWidget(self.stack, 1)
        main.addLayout(actions)
        main.addWidget(self.message)
        layout = QHBoxLayout(self)
        layout.addLayout(main, 1)
        layout.addWidget(self._side_panel())

        keys = [(str(n), lambda n=n: self.pick(n - 1)) for n in range(1, 10)]
        keys += [("T", self.tie), ("B", self.all_bad), ("S", self.skip), (QKeySequence.StandardKey.Undo, self.undo)]
        for key, slot in keys:
            QShortcut(QKeySequence(key), self, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def _side_panel(self) -> QWidget:
        self.generator = GeneratePanel(self.ctx, lambda prompts: self.generate(prompts, explicit=True),
                                       remember=not self.labelling_only)
        self.policy, self.k_spin = self.generator.policy, self.generator.k_spin
        self.count_spin, self.tokens_spin = self.generator.count_spin, self.generator.tokens_spin
        self.prompts_edit = QPlainTextEdit(placeholderText="One prompt per line",
                                           toolTip="New prompts to rank answers for, one per line")
        add = QPushButton("Add prompts", toolTip="Save these prompts; answers to them are generated next")
        add.clicked.connect(self.add_prompts)
        prompt_box = QGroupBox("Add prompts")
        col = QVBoxLayout(prompt_box)
        col.addWidget(self.prompts_edit)
        col.addWidget(add)

        side = QWidget()  # as wide as its contents need at the present text size, no wider
        side.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.generator)
        layout.addWidget(prompt_box, 1)
        if self.labelling_only:  # no model in a pack: nothing to generate
            self.generator.hide()
            prompt_box.hide()
        layout.addWidget(GuidelinesPanel(self.ctx), 2)
        return side

    # -- what is shown --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Counters, the policy list, the next comparison if none is shown, and prefetch."""
        unranked = self.queue.unranked(self.ctx.annotator)
        if self.comparison is None:
            self._show(self.queue.next(self.ctx.annotator, unranked))
        self.generator.refresh_policies()
        mine = [r for r in self.ctx.store.rankings() if r.annotator == self.ctx.annotator]
        today = sum(datetime.fromisoformat(r.created).astimezone().date() == date.today() for r in mine)
        self.counters.setText(f"Today: <b>{today}</b> · Ranked: <b>{len(mine)}</b> · Left: <b>{len(unranked)}</b>"
                              + self.queue.unsure_text(self.ctx.annotator))
        self._prefetch(len(unranked))

    def _queue_chosen(self) -> None:
        """Another queue was picked: its head replaces the comparison on screen unless that one is in it too."""
        if self.comparison is not None and all(c.id != self.comparison.id
                                               for c in self.queue.unranked(self.ctx.annotator)):
            self.comparison = None
        self.refresh()

    def _show(self, comparison: Comparison | None) -> None:
        """Put `comparison` (or the empty state) on screen with no keys pressed yet."""
        focused = QApplication.focusWidget()
        had_focus = focused is not None and self.stack.isAncestorOf(focused)
        self.comparison, self.picked = comparison, []
        for pane in self.panes:
            pane.setParent(None)
            pane.deleteLater()
        self.panes = []
        if comparison is None:
            self.prompt_view.setPlainText("")
            self.empty.setText("No disagreements left: where a labeller picked another best answer than yours, "
                               "you have looked again." if self.queue.order == DISAGREE else
                               "Preparing the next comparison…" if self._job else
                               f"Nothing left to rank in this pack. {PACK_DONE}" if self.labelling_only else
                               "Nothing to rank. Add prompts on the right: their answers are generated "
                               "in the background and appear here.")
            self.stack.setCurrentWidget(self.empty)
            self.agreement.setText("")
            self.hint.setText("")
        else:
            self.prompt_view.setPlainText(comparison.prompt)
            cut = self.ctx.store.cut_at(comparison.response_ids)
            for number, (rid, text) in enumerate(zip(comparison.response_ids, comparison.responses), start=1):
                pane = ResponsePane(number, text, self.pick, None if self.labelling_only else self.make_demo,
                                    cut_at=cut.get(rid))
                self.panes.append(pane)
                self.splitter.addWidget(pane)
            self.splitter.setSizes([1000] * len(self.panes))
            self.stack.setCurrentWidget(self.splitter)
            self.agreement.setText(self._agreement_text(comparison.id))
            k = len(comparison.responses)
            self.hint.setText(self.queue.note(comparison, self.ctx.annotator) + f"Press 1–{k} for the best answer"
                              + (", then the next best…" if k > 2 else ""))
        if had_focus or QApplication.focusWidget() is None:
            self.setFocus()

    def _agreement_text(self, comparison_id: int) -> str:
        rankers = {r.annotator for r in self.ctx.store.rankings(comparison_id) if r.status == "ranked"}
        score = self.ctx.store.agreement(comparison_id)
        return "" if score is None else f"Agreement: {score:.0%} of {len(rankers)} annotators pick the same best"

    def _say(self, text: str, error: bool = False) -> None:
        set_role(self.message, "error" if error else "")
        self.message.setText(text)

    # -- decisions ------------------------------------------------------------------------------------
    def pick(self, position: int) -> None:
        """Press key `position + 1`: the best of the answers not yet picked; K-1 picks save the ranking."""
        if self.comparison is None or position >= len(self.panes) or position in self.picked:
            return
        self.picked.append(position)
        self.panes[position].set_place(len(self.picked) - 1)
        k = len(self.panes)
        if len(self.picked) == k - 1:
            last = [p for p in range(k) if p not in self.picked]
            self._decide([[p] for p in self.picked] + [last], "ranked")

    def tie(self) -> None:
        if self.comparison is not None:
            self._decide([list(range(len(self.panes)))], "ranked")

    def all_bad(self) -> None:
        if self.comparison is not None:
            self._decide([], "all_bad")

    def skip(self) -> None:
        if self.comparison is not None:
            self._decide([], "skip")

    def _decide(self, order: list[list[int]], status: str) -> None:
        comparison = self.comparison
        try:
            decision = self.queue.save(comparison, order, self.ctx.annotator, status)
        except (ValueError, LookupError, StoreError) as exc:
            self._say(f"Not saved: {exc}", error=True)
            self._show(comparison)
            return
        self._decisions.append(decision)
        self._say(f"Saved: {_describe(order, status)}.{self.queue.guess_text(decision)} Ctrl+Z takes it back."
                  + suggestion_text(self.ctx.store.rankings(comparison.id), comparison.id, order))
        self.comparison = None
        self.ctx.data_changed.emit()  # refreshes this page too: the next comparison appears

    def undo(self) -> None:
        """Take back the last key pressed on this comparison, else the last saved decision."""
        if self.picked:
            self.panes[self.picked.pop()].set_place(None)
            return
        if not self._decisions:
            self._say("Nothing to undo.")
            return
        try:
            comparison = self.queue.undo(self._decisions.pop())
        except (LookupError, StoreError) as exc:
            self._say(f"Could not undo: {exc}", error=True)
            return
        self._show(comparison)
        self._say("Undone: rank this one again.")
        self.ctx.data_changed.emit()

    def _forget_decisions(self) -> None:
        self._decisions.clear()
        self.comparison = None

    # -- demonstrations and prompts -------------------------------------------------------------------
    def make_demo(self, position: int) -> DemoDialog | None:
        """Open an editor pre-filled with answer `position`; saving it adds a demonstration."""
        if self.comparison is None or position >= len(self.comparison.responses):
            return None
        dialog = DemoDialog(self.ctx, self.comparison.prompt, self.comparison.responses[position], self)
        dialog.accepted.connect(lambda: self._say("Added a demonstration (see the Demonstrations page)."))
        dialog.open()
        return dialog

    def add_prompts(self) -> None:
        """Save each non-empty line of the box as a prompt; answers to them are generated next."""
        lines = [line.strip() for line in self.prompts_edit.toPlainText().splitlines() if line.strip()]
        if not lines:
            self._say("Type one prompt per line first.", error=True)
            return
        try:
            with self.ctx.store.transaction():
                ids = {self.ctx.store.add_prompt(line) for line in lines}
        except (ValueError, StoreError) as exc:
            self._say(f"Not saved: {exc}", error=True)
            return
        self.prompts_edit.clear()
        self._auto = True
        self._say(f"Saved {len(ids)} prompt{'s' * (len(ids) != 1)}.")
        self.ctx.data_changed.emit()

    # -- background generation ------------------------------------------------------------------------
    def _prefetch(self, ready: int) -> None:
        """Refill the queue when fewer than READY_AHEAD comparisons are ready (not for a second look: it needs
        no new answers; not on a read-only project, which could store none)."""
        if (ready < READY_AHEAD and self._auto and self._job is None and self.isVisible()
                and self.queue.order != DISAGREE and not self.ctx.project.read_only):
            if self.ctx.store.prompts_without_responses(self.policy.currentData()):
                self.generate(REFILL_PROMPTS)

    def generate(self, prompts: int, explicit: bool = False) -> Job | None:
        """Generate K answers for up to `prompts` prompts that have none from the chosen model."""
        if self._job is not None:
            if explicit:
                self._queued = prompts
                self._say("Queued: these answers are generated when the current ones are done.")
            return None
        policy = self.policy.currentData()
        if not self.ctx.store.prompts_without_responses(policy):
            if explicit:
                self._say("Every prompt already has answers from this model: add prompts first.", error=True)
            return None
        self._auto = True
        from studio.workers.model_jobs import generate_job

        job = self.ctx.run(generate_job(per_prompt=self.k_spin.value(), policy=policy, limit=prompts,
                                        max_new_tokens=self.tokens_spin.value() or None),
                           title="Generating answers")
        job.progress.connect(self._on_generated)
        job.finished.connect(lambda _ids: self._generation_ended())
        job.failed.connect(self._generation_ended)
        job.cancelled.connect(self._generation_cancelled)
        self._job = job
        self.preparing.setText("preparing next…")
        self.preparing.show()
        if self.comparison is None:
            self._show(None)  # the empty state now says the next comparison is coming
        job.start()
        return job

    def _on_generated(self, done: int, total: int) -> None:
        """A comparison was just stored: show it at once when the page is waiting for one."""
        self.preparing.setText(f"preparing next… {done}/{total}")
        self.refresh()

    def _generation_ended(self, error: str | None = None) -> None:
        self._job = None
        self.preparing.hide()
        if error is not None:
            self._auto = False  # no retry loop; Generate or Add prompts turns prefetch back on
            self._queued = None
            self._say(f"Generation failed: {error}", error=True)
        queued, self._queued = self._queued, None
        if queued is not None:
            self.generate(queued, explicit=True)
        self.refresh()

    def _generation_cancelled(self) -> None:
        """Cancelled on shutdown: the store may be closed already, so touch nothing."""
        self._job = None
        self._auto = False
        self._queued = None
        self.preparing.hide()
