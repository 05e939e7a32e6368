from PySide6.QtCore import Qt

from studio.core import active
from studio.core.active import Guess
from studio.core.oversight_store import add_machine_label
from studio.ui.guidelines import GuidelinesPanel
from studio.ui.rank_page import RankPage
from tests.ui.helpers import show
from tests.ui.test_rank_page import press, seed


def _guessed(store, spreads: list[float]) -> list[int]:
    """Comparisons with hand-made guesses of a finished reward run: P(second wins) 70 %, the given spreads."""
    ids = [seed(store, 2, f"Q{i}") for i in range(len(spreads))]
    run = store.create_run("reward", {})
    store.update_run(run, status="finished")
    active.save_guesses(store, run, [Guess(c, run, 0.3, s, [0.3, 0.7], s > 0.1, "bootstrap")
                                     for c, s in zip(ids, spreads)])
    return ids


def test_in_order_until_a_reward_model_exists(qtbot, ctx):
    ids = [seed(ctx.store, 2, f"Q{i}") for i in range(3)]
    page = show(qtbot, RankPage(ctx))
    assert page.queue.combo.currentText() == "In order" and page.comparison.id == ids[0]
    assert "unsure" not in page.counters.text()


def test_most_informative_first_and_the_guess_only_after_deciding(qtbot, ctx):
    ids = _guessed(ctx.store, [0.05, 0.3, 0.2])
    page = show(qtbot, RankPage(ctx))
    assert page.queue.combo.currentText() == "Most informative first"
    assert page.comparison.id == ids[1]
    assert "Reward model unsure: <b>2</b>" in page.counters.text()
    assert "guessed" not in page.message.text()
    press(qtbot, page, "1")
    assert "The reward model guessed answer 2 (70%, unsure)" in page.message.text()
    assert page.comparison.id == ids[2] and "Reward model unsure: <b>1</b>" in page.counters.text()
    page.queue.combo.setCurrentIndex(page.queue.combo.findData("arrival"))
    page.queue.combo.activated.emit(page.queue.combo.currentIndex())
    press(qtbot, page, "2")
    assert page.comparison.id == ids[0]  # in order from now on
    assert page.queue.combo.currentText() == "In order"


def test_a_repeat_comes_back_shuffled_and_is_stored_apart(qtbot, ctx):
    ids = [seed(ctx.store, 3, f"Q{i}") for i in range(active.REPEAT_EVERY + 1)]
    for c in ids[:active.REPEAT_EVERY]:
        ctx.store.add_ranking(c, [[0], [1], [2]], "tester")
    page = show(qtbot, RankPage(ctx))
    repeat = page.queue.repeat
    assert repeat is not None and page.comparison.id == repeat.comparison.id != ids[-1]
    stored = repeat.comparison.responses
    assert [p.view.toPlainText() for p in page.panes] == [stored[i] for i in repeat.shown] != stored
    press(qtbot, page, str(repeat.shown.index(2) + 1), str(repeat.shown.index(1) + 1))
    [row] = active.repeats(ctx.store)
    assert row["order"] == [[2], [1], [0]] and row["comparison_id"] == repeat.comparison.id
    assert ctx.store.rankings(repeat.comparison.id)[0].order == [[0], [1], [2]]  # the first answer is kept
    assert page.comparison.id == ids[-1] and "guessed" not in page.message.text()
    qtbot.keyClick(page.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert active.repeats(ctx.store) == [] and page.comparison.id == repeat.comparison.id
    assert [p.view.toPlainText() for p in page.panes] == [stored[i] for i in repeat.shown]
    press(qtbot, page, "S")
    assert active.repeats(ctx.store)[0]["status"] == "skip"


def test_guidelines_are_edited_and_shown_beside_the_rank_page(qtbot, ctx):
    page = show(qtbot, RankPage(ctx))
    panel = page.findChild(GuidelinesPanel)
    assert panel.isVisible() and "No guidelines yet" in panel.view.toPlainText()
    panel.edit_button.click()
    assert panel.editing
    panel.editor.setPlainText("# Rules\n- prefer **short** answers")
    panel.edit_button.click()
    assert not panel.editing and active.guidelines(ctx.store) == "# Rules\n- prefer **short** answers"
    assert "prefer short answers" in panel.view.toPlainText()
    assert "<b>" in panel.view.toHtml() or "font-weight" in panel.view.toHtml()


def _choose(page, order: str) -> None:
    """Pick a queue in the combo as a person does (activated fires on a user's choice only)."""
    combo = page.queue.combo
    combo.setCurrentIndex(combo.findData(order))
    combo.activated.emit(combo.currentIndex())


def test_the_labellers_pick_shows_only_after_deciding(qtbot, ctx):
    comparison = seed(ctx.store, 2)
    add_machine_label(ctx.store, comparison, [[1], [0]], "ai:prefer fruit", 0.9)
    page = show(qtbot, RankPage(ctx))
    assert page.comparison.id == comparison
    on_screen = [page.message.text(), page.hint.text(), page.agreement.text(), page.counters.text(),
                 *(p.header.text() for p in page.panes)]
    assert not any("ai:" in text or "picked" in text for text in on_screen)
    press(qtbot, page, "1")
    assert "ai:prefer fruit picked 2 (differs)" in page.message.text()


def test_where_the_labellers_and_you_disagree_look_again_and_re_rank(qtbot, ctx):
    store = ctx.store
    differs, agrees, seen, fresh = (seed(store, 2, f"Q{i}") for i in range(4))
    for c in (differs, agrees):
        store.add_ranking(c, [[0], [1]], "tester")
    add_machine_label(store, differs, [[1], [0]], "ai:prefer fruit", 0.9)  # labelled after the person ranked
    add_machine_label(store, agrees, [[0], [1]], "ai:prefer fruit", 0.9)
    add_machine_label(store, seen, [[1], [0]], "rule:longer", 1.0)  # before: its pick was shown after deciding
    store.add_ranking(seen, [[0], [1]], "tester")
    page = show(qtbot, RankPage(ctx))
    assert page.comparison.id == fresh  # the usual queue: what the person has not ranked

    _choose(page, "disagree")
    assert page.comparison.id == differs and "Left: <b>1</b>" in page.counters.text()
    assert "Second look: ai:prefer fruit" in page.hint.text() and "picked 2" not in page.hint.text()
    [first] = [r for r in store.rankings(differs) if r.annotator == "tester"]
    press(qtbot, page, "2")
    assert [(r.order, r.id > first.id) for r in store.rankings(differs) if r.annotator == "tester"] == [
        ([[1], [0]], True)]  # the new ranking replaced the old one
    assert "ai:prefer fruit picked 2 (agrees)" in page.message.text()
    assert page.comparison is None and "No disagreements left" in page.empty.text()
    assert "Left: <b>0</b>" in page.counters.text()

    qtbot.keyClick(page.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [r for r in store.rankings(differs) if r.annotator == "tester"] == [first]  # put back as it was
    assert page.comparison.id == differs and "Left: <b>1</b>" in page.counters.text()
    press(qtbot, page, "1")  # a second look that keeps the first view closes it too
    assert page.comparison is None and "Left: <b>0</b>" in page.counters.text()
    assert [r.order for r in store.rankings(differs) if r.annotator == "tester"] == [[[0], [1]]]

    _choose(page, "arrival")
    assert page.comparison.id == fresh
