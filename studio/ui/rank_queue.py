"""What the Rank page shows next: most informative first, in order, or where a labeller and the person
disagree (to look again); unannounced repeats; and the reward model's guess (said only after the person
decided, so it cannot anchor them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox

from studio.core import active
from studio.core.ai_feedback import disagreements, to_look_again
from studio.core.records import Comparison, Ranking

if TYPE_CHECKING:
    from studio.ui.context import StudioContext

DISAGREE = "disagree"
ORDER_NAMES = {"uncertain": "Most informative first", "arrival": "In order",
               DISAGREE: "Where the labellers and you disagree"}


@dataclass
class Decision:
    """One saved decision, for undo: a ranking, or the answer to a repeat."""

    kind: str                          # "ranking" or "repeat"
    id: int
    comparison_id: int
    repeat: active.Repeat | None = None
    replaced: Ranking | None = None    # the annotator's earlier ranking that this one replaced (a second look)


class LabelQueue:
    """Chooses the next comparison for an annotator and saves decisions (rankings, or repeats)."""

    def __init__(self, ctx: StudioContext):
        self.ctx = ctx
        self.chosen: str | None = None       # the person's pick; None follows the default
        self.repeat: active.Repeat | None = None
        self.combo = QComboBox(toolTip="Which comparison comes next: the ones the reward model is least sure "
                                       "about (the labels that teach it most), in the order they were made, or "
                                       "the ones you ranked where an AI or rule labeller later put another "
                                       "answer first (look again: your new ranking replaces your old one)")
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
        """What is left for `annotator` in the chosen queue (for DISAGREE: the comparisons to look at again)."""
        order = self.order
        self.combo.setCurrentIndex(self.combo.findData(order))
        if order == DISAGREE:
            return [self.ctx.store.comparison(c) for c in to_look_again(self.ctx.store.rankings(), annotator)]
        return active.queue(self.ctx.store, annotator, order)

    def next(self, annotator: str, unranked: list[Comparison]) -> Comparison | None:
        """An unannounced repeat when one is due (not during a second look), else the head of the queue."""
        self.repeat = None if self.order == DISAGREE else active.due_repeat(self.ctx.store, annotator)
        if self.repeat is not None:
            return self.repeat.on_screen()
        return unranked[0] if unranked else None

    def note(self, comparison: Comparison, annotator: str) -> str:
        """What a second look is about (which labellers disagree, not what they picked), else ""."""
        if self.order != DISAGREE:
            return ""
        machines = sorted({m for _, m in disagreements(self.ctx.store.rankings(comparison.id), annotator)})
        return (f"Second look: {', '.join(machines)} picked a different best answer from yours; your new ranking "
                "replaces the old one. ") if machines else ""

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
        replaced = next((r for r in store.rankings(comparison.id) if r.annotator == annotator), None)
        return Decision("ranking", store.add_ranking(comparison.id, order, annotator, status), comparison.id,
                        replaced=replaced)

    def undo(self, decision: Decision) -> Comparison:
        """Take a decision back; returns the comparison to show again (a repeat as it was shown)."""
        if decision.kind == "repeat":
            active.delete_repeat(self.ctx.store, decision.id)
            self.repeat = decision.repeat
            return decision.repeat.on_screen()
        store = self.ctx.store
        with store.label_transaction():  # a second look's undo puts the first ranking back as it was
            store.delete_ranking(decision.id)
            if decision.replaced is not None:
                store.restore_ranking(decision.replaced)
        return store.comparison(decision.comparison_id)

    def guess_text(self, decision: Decision) -> str:
        """The reward model's guess on the comparison just decided, or "" (none, or a repeat)."""
        guess = active.guesses(self.ctx.store, comparison_id=decision.comparison_id).get(decision.comparison_id)
        if guess is None or decision.kind == "repeat":
            return ""
        return (f" The reward model guessed answer {guess.best + 1} "
                f"({guess.probs[guess.best]:.0%}{', unsure' if guess.unsure else ''}).")
