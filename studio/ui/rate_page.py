"""The Rate page: one answer at a time, one key each: the labels KTO learns from.

Up or J rates the answer good, Down or K bad, S skips it (nothing is stored), Ctrl+Z takes back the
last key. Every rating is written to the store at once, with the annotator and the time, and the next
answer appears. Every 20th rating an answer rated earlier comes back unannounced; its second rating
is stored apart (`active.rating_repeats`), for the annotator's self-consistency. A prompt with a liked and a disliked answer also gives preference pairs for the reward
model and DPO (see `studio.core.ratings`).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core import active
from studio.core.ratings import RateItem, Ratings, export_ratings, import_ratings, kto_weight_advice
from studio.core.store import Store, StoreError
from studio.ui.answer_widgets import DemoDialog, LabellingPage, reader
from studio.ui.rank_page import PACK_DONE
from studio.ui.theme import set_role

if TYPE_CHECKING:  # the labelling-only pack window starts without the workers (superqt) and the model host
    from studio.ui.context import StudioContext
    from studio.workers.job import Job

KEYS_HELP = "Keys: <b>↑</b> or <b>J</b> good · <b>↓</b> or <b>K</b> bad · <b>S</b> skip · <b>Ctrl+Z</b> undo"


class RatePage(LabellingPage):
    """Rate the stored answers good or bad, one at a time, with single keys."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None, labelling_only: bool = False):
        super().__init__(parent)
        self.ctx = ctx
        self.labelling_only = labelling_only              # a pack: labels only, no files, no demonstrations
        self.item: RateItem | None = None
        self.repeat = False                               # the shown answer is an unannounced repeat
        self.skipped: list[int] = []                      # response ids skipped on this page, left out
        # (response id, rating or repeat id or None for a skip, whether it was a repeat)
        self._history: list[tuple[int, int | None, bool]] = []
        self._annotator = ctx.annotator                   # whose skips and history these are
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build()
        ctx.data_changed.connect(self.refresh)
        self.refresh()

    @property
    def ratings(self) -> Ratings:
        return Ratings(self.ctx.store)

    def _build(self) -> None:
        top = self._top_bar()
        self._build_views()
        actions = self._action_bar()
        self.message = QLabel(wordWrap=True)
        self.balance = QLabel(wordWrap=True,
                              toolTip="KTO learns best when good and bad ratings weigh about the same in all "
                                      "(TRL's advice); the weights are KTO settings on the Train page")
        set_role(self.balance, "muted")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("<b>Prompt</b>"))
        layout.addWidget(self.prompt_view)
        layout.addWidget(QLabel("<b>Answer</b>"))
        layout.addWidget(self.answer_view, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(actions)
        layout.addWidget(self.message)
        layout.addWidget(self.balance)
        self._add_shortcuts()

    def _top_bar(self) -> QHBoxLayout:
        """Annotator, counters, and the Import/Export buttons (hidden in a pack)."""
        top = self._annotator_bar("Who is rating: each annotator rates every answer once",
                                  "Your ratings today and in all, and answers you have not rated yet")
        top.addStretch(1)
        for text, tip, slot in [
            ("Import…", 'Add ratings from a TRL unpaired file: lines {"prompt", "completion", "label": true|false}',
             self.import_jsonl),
            ("Export…", "Write every rating as TRL unpaired lines, e.g. for TRL's KTOTrainer", self.export_jsonl),
        ]:
            button = QPushButton(text, toolTip=tip, focusPolicy=Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, slot=slot: slot())
            if self.labelling_only:  # a pack has no files to import or export
                button.hide()
            top.addWidget(button)
        return top

    def _build_views(self) -> None:
        """The prompt and the answer (read-only: the arrow keys rate, they do not scroll), or a note when none."""
        self.prompt_view = reader()
        self.prompt_view.setMaximumHeight(120)
        self.prompt_view.setToolTip("The prompt the answer below responds to")
        self.answer_view = reader()
        self.answer_view.setToolTip("Is this a good answer to the prompt?")
        for view in (self.prompt_view, self.answer_view):
            view.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys rate; they do not scroll
        self.empty = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)

    def _action_bar(self) -> QHBoxLayout:
        """Good, Bad, Skip, Undo and Make this a demonstration (hidden in a pack), and the keys' help."""
        actions = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for name, text, tip, slot in [
            ("good", "Good (↑ / J)", "A good answer: KTO makes answers like it more likely",
             lambda: self.rate(True)),
            ("bad", "Bad (↓ / K)", "A bad answer: KTO makes answers like it less likely",
             lambda: self.rate(False)),
            ("skip", "Skip (S)", "Do not rate this one; nothing is stored", self.skip),
            ("undo", "Undo (Ctrl+Z)", "Take back the last rating or skip", self.undo),
            ("demo", "Make this a demonstration…", "“This is what it should have said”: edit this answer into a "
                                                   "demonstration for SFT", self.make_demo),
        ]:
            button = QPushButton(text, toolTip=tip)
            button.clicked.connect(slot)
            actions.addWidget(button)
            self.buttons[name] = button
        if self.labelling_only:  # a pack brings back labels only
            self.buttons["demo"].hide()
        self.keys = QLabel(KEYS_HELP)
        set_role(self.keys, "muted")
        actions.addWidget(self.keys, 1)
        return actions

    def _add_shortcuts(self) -> None:
        """Up/J good, Down/K bad, S skip, Ctrl+Z undo, anywhere on the page."""
        for keys, slot in [(("Up", "J"), lambda: self.rate(True)), (("Down", "K"), lambda: self.rate(False)),
                           (("S",), self.skip), ((QKeySequence.StandardKey.Undo,), self.undo)]:
            for key in keys:
                QShortcut(QKeySequence(key), self, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    # -- what is shown --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Counters, and the next unrated answer if none is shown (a new one when the annotator changed,
        here or on the Rank page)."""
        annotator = self.ctx.annotator
        if annotator != self._annotator:
            self._annotator, self.item = annotator, None
            self._history.clear()
            self.skipped.clear()
            self.annotator.setText(annotator)
        if self.item is None:
            repeat = None if self._repeat_skipped() else active.due_rating_repeat(self.ctx.store, annotator,
                                                                                   skip=self.skipped)
            if repeat is not None:
                self._show(self.ratings.item(repeat), repeat=True)
            else:
                found = self.ratings.unrated(annotator, skip=self.skipped, limit=1)
                self._show(found[0] if found else None)
        mine = self.ratings.list(annotator)
        today = sum(datetime.fromisoformat(r.created).astimezone().date() == date.today() for r in mine)
        good = sum(r.label for r in mine)
        self.counters.setText(f"Today: <b>{today}</b> · Rated: <b>{len(mine)}</b> ({good} good, "
                              f"{len(mine) - good} bad) · Left: <b>{self.ratings.count_unrated(annotator)}</b>")
        advice = kto_weight_advice(*self.ratings.totals())
        self.balance.setText(f"All annotators: {advice}." if advice else "")

    def _repeat_skipped(self) -> bool:
        """Whether a repeat was skipped since the last rating: then the next answers are new ones (a run of
        repeats would announce them)."""
        for _, saved, repeat in reversed(self._history):
            if saved is not None:
                return False
            if repeat:
                return True
        return False

    def _show(self, item: RateItem | None, repeat: bool = False) -> None:
        self.item, self.repeat = item, repeat
        shown = item is not None
        self.prompt_view.setPlainText(item.prompt if shown else "")
        self.answer_view.setPlainText(item.response if shown else "")
        self.answer_view.setVisible(shown)
        self.empty.setVisible(not shown)
        for name in ("good", "bad", "skip", "demo"):
            self.buttons[name].setEnabled(shown)
        if not shown:
            skipped = f" ({len(self.skipped)} skipped on this page)" if self.skipped else ""
            self.empty.setText(f"Nothing left to rate in this pack{skipped}. {PACK_DONE}"
                               if self.labelling_only else f"Nothing left to rate{skipped}. Answers generated on the "
                               "Rank page, or imported with “ratings import”, appear here.")

    def _say(self, text: str, error: bool = False) -> None:
        set_role(self.message, "error" if error else "")
        self.message.setText(text)

    # -- decisions ------------------------------------------------------------------------------------
    def rate(self, good: bool) -> None:
        """Store the shown answer as good or bad at once (a repeat's answer apart), then show the next one."""
        if self.item is None:
            return
        try:
            if self.repeat:
                saved = active.add_rating_repeat(self.ctx.store, self.item.response_id, good, self.ctx.annotator)
            else:
                saved = self.ratings.add(self.item.response_id, good, self.ctx.annotator)
        except (ValueError, LookupError, StoreError) as exc:
            self._say(f"Not saved: {exc}", error=True)
            return
        self._history.append((self.item.response_id, saved, self.repeat))
        self._say(f"Saved: {'good' if good else 'bad'}. Ctrl+Z takes it back.")
        self.item = None
        self.ctx.data_changed.emit()  # refreshes this page too: the next answer appears

    def skip(self) -> None:
        """Leave the shown answer unrated (nothing is stored) and show the next one."""
        if self.item is None:
            return
        self.skipped.append(self.item.response_id)
        self._history.append((self.item.response_id, None, self.repeat))
        self._say("Skipped. Ctrl+Z brings it back.")
        self.item = None
        self.refresh()

    def undo(self) -> None:
        """Take back the last rating (deleted from the store) or skip, and show that answer again (a repeat
        as a repeat)."""
        if not self._history:
            self._say("Nothing to undo.")
            return
        response_id, saved, repeat = self._history.pop()
        try:
            if saved is None:
                self.skipped.remove(response_id)
            elif repeat:
                active.delete_rating_repeat(self.ctx.store, saved)
            else:
                self.ratings.delete(saved)
            item = self.ratings.item(response_id)
        except (LookupError, StoreError) as exc:
            self._say(f"Could not undo: {exc}", error=True)
            return
        self._show(item, repeat)
        self._say("Undone: rate this one again.")
        self.ctx.data_changed.emit()

    def make_demo(self) -> DemoDialog | None:
        """Open an editor pre-filled with the shown answer; saving it adds a demonstration."""
        if self.item is None:
            return None
        dialog = DemoDialog(self.ctx, self.item.prompt, self.item.response, self)
        dialog.accepted.connect(lambda: self._say("Added a demonstration (see the Demonstrations page)."))
        dialog.open()
        return dialog

    # -- files (in background jobs) ------------------------------------------------------------------
    def import_jsonl(self, path: str | None = None) -> Job | None:
        """Add the ratings of a TRL unpaired file (all or nothing), in the background."""
        from studio.ui.demos_page import JSONL_FILTER

        path = path or QFileDialog.getOpenFileName(self, "Import ratings", "", JSONL_FILTER)[0]
        return self._file_job(path, import_ratings, "Imported {n} ratings from {name}.", "Import failed, nothing added")

    def export_jsonl(self, path: str | None = None) -> Job | None:
        """Write every rating as TRL unpaired lines, in the background."""
        from studio.ui.demos_page import JSONL_FILTER

        path = path or QFileDialog.getSaveFileName(self, "Export ratings", "ratings.jsonl", JSONL_FILTER)[0]
        return self._file_job(path, lambda store, out: export_ratings(  # the dialog asked before replacing a file
                                  store, self.ctx.project.check_output(out, force=True)),
                              "Exported {n} ratings to {name}.", "Export failed")

    def _file_job(self, path: str, work: Callable[[Store, str], int], done: str, failed: str) -> Job | None:
        """Run `work(store, path)` on the job's own connection; the outcome goes to the message line."""
        if not path:
            return None
        job = self.ctx.run(lambda jc: work(jc.project.store, path), needs_model=False, own_errors=True)
        job.finished.connect(lambda n: self._say(done.format(n=n, name=Path(path).name)))
        job.failed.connect(lambda text: self._say(f"{failed}: {text}", error=True))
        return job.start()
