"""What the Rank page shows next: most informative first or in order, unannounced repeats, and the
reward model's guess (said only after the person decided, so it cannot anchor them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox

from studio.core import active
from studio.core.records import Comparison

if TYPE_CHECKING:
    from studio.ui.context import StudioContext

ORDER_NAMES = {"uncertain": "Most informative first", "arrival": "In order"}


@dataclass
class Decision:
    """One saved decision, for undo: a ranking, or the answer to a repeat."""

    kind: str                          # "ranking" or "repeat"
    id: int
    comparison_id: int
    repeat: active.Repeat | None = None


class LabelQueue:
    """Chooses the next comparison for an annotator and saves decisions (rankings, or repeats)."""

    def __init__(self, ctx: StudioContext):
        self.ctx = ctx
        self.chosen: str | None = None       # the person's pick; None follows the default
        self.repeat: active.Repeat | None = None
        self.combo = QComboBox(toolTip="Which comparison comes next: the ones the reward model is least sure "
                                       "about (the labels that teach it most), or in the order they were made")
        for order, name in ORDER_NAMES.items():
            self.combo.addItem(name, order)
        self.combo.activated.connect(lambda _i: setattr(self, "chosen", self.combo.currentData()))

    @property
    def order(self) -> str:
        """The person's choice, else most informative first once a reward model exists."""
        if self.chosen:
            return self.chosen
        return "uncertain" if active.latest_reward_run(self.ctx.store) is not None else "arrival"

    def unranked(self, annotator: str) -> list[Comparison]:
        order = self.order
        self.combo.setCurrentIndex(self.combo.findData(order))
        return active.queue(self.ctx.store, annotator, order)

    def next(self, annotator: str, unranked: list[Comparison]) -> Comparison | None:
        """An unannounced repeat when one is due, else the head of the queue."""
        self.repeat = active.due_repeat(self.ctx.store, annotator)
        if self.repeat is not None:
            return self.repeat.on_screen()
        return unranked[0] if unranked else None

    def unsure_text(self, annotator: str) -> str:
        if active.latest_reward_run(self.ctx.store) is None:
            return ""
        return f" · Reward model unsure: <b>{active.unsure_count(self.ctx.store, annotator)}</b>"

    def save(self, comparison: Comparison, order: list[list[int]], annotator: str, status: str) -> Decision:
        """Store the decision on `comparison` as shown (a repeat goes to the repeats, mapped back)."""
        store = self.ctx.store
        if self.repeat is not None and self.repeat.comparison.id == comparison.id:
            repeat = self.repeat
            decision = Decision("repeat", active.add_repeat(store, repeat, order, annotator, status), comparison.id,
                                repeat)
            self.repeat = None
            return decision
        return Decision("ranking", store.add_ranking(comparison.id, order, annotator, status), comparison.id)

    def undo(self, decision: Decision) -> Comparison:
        """Take a decision back; returns the comparison to show again (a repeat as it was shown)."""
        if decision.kind == "repeat":
            active.delete_repeat(self.ctx.store, decision.id)
            self.repeat = decision.repeat
            return decision.repeat.on_screen()
        self.ctx.store.delete_ranking(decision.id)
        return self.ctx.store.comparison(decision.comparison_id)

    def guess_text(self, decision: Decision) -> str:
        """The reward model's guess on the comparison just decided, or "" (none, or a repeat)."""
        guess = active.guesses(self.ctx.store, comparison_id=decision.comparison_id).get(decision.comparison_id)
        if guess is None or decision.kind == "repeat":
            return ""
        return (f" The reward model guessed answer {guess.best + 1} "
                f"({guess.probs[guess.best]:.0%}{', unsure' if guess.unsure else ''}).")
