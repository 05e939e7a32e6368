import pytest
from PySide6.QtCore import Qt

from studio.ui import rank_page
from studio.ui.rank_page import RankPage
from tests.ui.helpers import show


def seed(store, k: int, prompt: str = "Q") -> int:
    """A comparison of k base answers "a", "b", … to `prompt`."""
    prompt_id = store.add_prompt(prompt)
    ids = [store.add_response(prompt_id, "abcd"[i] * 20, "base") for i in range(k)]
    return store.add_comparison(prompt_id, ids)


def press(qtbot, page, *keys):
    for key in keys:
        qtbot.keyClick(page.windowHandle(), key)


def test_keys_build_the_order_best_first(qtbot, ctx):
    first, second = seed(ctx.store, 3), seed(ctx.store, 2, "R")
    page = show(qtbot, RankPage(ctx))
    assert page.comparison.id == first and len(page.panes) == 3
    assert "Left: <b>2</b>" in page.counters.text()
    press(qtbot, page, "2")
    assert ctx.store.rankings() == [] and page.panes[1].header.text().endswith("1st")
    press(qtbot, page, "2", "3")  # a repeated key is ignored; the last answer is implied
    [ranking] = ctx.store.rankings(first)
    assert ranking.order == [[1], [2], [0]] and ranking.annotator == "tester" and ranking.status == "ranked"
    assert page.comparison.id == second
    assert "Today: <b>1</b>" in page.counters.text() and "Left: <b>1</b>" in page.counters.text()


@pytest.mark.parametrize(("key", "status", "order"), [("T", "ranked", [[0, 1, 2]]), ("B", "all_bad", []),
                                                      ("S", "skip", [])])
def test_tie_all_bad_and_skip(qtbot, ctx, key, status, order):
    comparison = seed(ctx.store, 3)
    page = show(qtbot, RankPage(ctx))
    press(qtbot, page, key)
    [ranking] = ctx.store.rankings(comparison)
    assert (ranking.status, ranking.order) == (status, order)
    assert page.comparison is None and "Nothing to rank" in page.empty.text()


def test_ctrl_z_undoes_a_key_then_the_last_decision(qtbot, ctx):
    first, second = seed(ctx.store, 3), seed(ctx.store, 2, "R")
    page = show(qtbot, RankPage(ctx))
    press(qtbot, page, "1")
    qtbot.keyClick(page.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.picked == [] and not page.panes[0].header.text().endswith("1st")
    press(qtbot, page, "2", "1")
    assert ctx.store.rankings(first)[0].order == [[1], [0], [2]]
    press(qtbot, page, "1")  # K=2: one key decides
    assert [r.comparison_id for r in ctx.store.rankings()] == [first, second]
    qtbot.keyClick(page.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [r.comparison_id for r in ctx.store.rankings()] == [first]
    assert page.comparison.id == second


def test_agreement_of_several_annotators(qtbot, ctx):
    comparison = seed(ctx.store, 2)
    ctx.store.add_ranking(comparison, [[0], [1]], annotator="ann")
    ctx.store.add_ranking(comparison, [[1], [0]], annotator="bob")
    ctx.store.add_ranking(comparison, [[0], [1]], annotator="cy")
    page = show(qtbot, RankPage(ctx))
    assert page.comparison.id == comparison and "33% of 3 annotators" in page.agreement.text()


def test_make_demo_and_add_prompts(qtbot, ctx):
    seed(ctx.store, 2)
    page = show(qtbot, RankPage(ctx))
    dialog = page.make_demo(1)
    assert dialog.response_edit.toPlainText() == "b" * 20
    dialog.response_edit.setPlainText("")
    dialog.accept()
    assert ctx.store.demos() == [] and "response" in dialog.message.text() and dialog.isVisible()
    dialog.response_edit.setPlainText("What it should have said.")
    dialog.accept()
    [demo] = ctx.store.demos()
    assert (demo.prompt, demo.response) == ("Q", "What it should have said.")

    page.generate = lambda *a, **k: None  # no model here: keep the prefetch from starting
    page.prompts_edit.setPlainText("one\n\n two \nQ\n")
    page.add_prompts()
    assert [p.text for p in ctx.store.prompts()] == ["Q", "one", "two"]
    assert page.prompts_edit.toPlainText() == ""


def test_prefetch_generates_the_next_comparison(qtbot, ctx, monkeypatch):
    """With the tiny model: the last comparison on screen starts background generation (2 prompts while fewer
    than 2 are ready, here), with the answers per prompt chosen when it starts."""
    monkeypatch.setattr(rank_page, "READY_AHEAD", 2)
    monkeypatch.setattr(rank_page, "REFILL_PROMPTS", 2)
    for text in ("first prompt", "second prompt", "third prompt"):
        ctx.store.add_prompt(text)
    page = RankPage(ctx)
    page.tokens_spin.setValue(8)
    show(qtbot, page)  # prefetch starts on show: nothing to rank yet
    page.k_spin.setValue(3)
    assert page._job is not None and page.preparing.isVisible() and "Preparing" in page.empty.text()
    qtbot.waitUntil(lambda: page.comparison is not None, timeout=60_000)
    assert len(page.panes) == 2  # the first batch was asked for before K changed
    qtbot.waitUntil(lambda: page._job is None, timeout=60_000)
    assert len(ctx.store.comparisons()) == 2 and [p.text for p in ctx.store.prompts_without_responses("base")] == [
        "third prompt"]
    press(qtbot, page, "1")
    press(qtbot, page, "1")  # now one left: the third prompt is generated with K=3
    qtbot.waitUntil(lambda: page._job is None and len(ctx.store.comparisons()) == 3, timeout=60_000)
    assert len(ctx.store.comparisons()[-1].responses) == 3


def test_each_comparison_appears_as_soon_as_it_is_stored(qtbot, ctx):
    """The first comparison is on screen while the rest of the batch is still being generated."""
    for n in range(6):
        ctx.store.add_prompt(f"prompt {n}")
    page = RankPage(ctx)
    page.tokens_spin.setValue(8)
    page._auto = False  # no prefetch on show: this test starts the batch itself
    show(qtbot, page)
    assert page.comparison is None
    job = page.generate(6, explicit=True)
    seen = []  # connected after the page's own slot: what the page shows once each comparison is stored
    job.progress.connect(lambda done, total: seen.append((done, page.comparison is not None, page._job is job)))
    qtbot.waitUntil(lambda: page._job is None, timeout=60_000)
    # the first 4 prompts' answers come in one call and are shown at once; the other two in the next call
    assert seen[0] == (4, True, True) and [done for done, _, _ in seen] == [4, 6]
    assert "Left: <b>6</b>" in page.counters.text()


def test_generate_pressed_while_generating_is_queued(qtbot, ctx):
    for text in ("first prompt", "second prompt"):
        ctx.store.add_prompt(text)
    page = RankPage(ctx)
    page.tokens_spin.setValue(8)
    page._auto = False
    show(qtbot, page)
    first = page.generate(1, explicit=True)
    assert page.generate(1, explicit=True) is None and "Queued" in page.message.text()
    qtbot.waitUntil(lambda: page._job not in (None, first), timeout=60_000)
    qtbot.waitUntil(lambda: page._job is None, timeout=60_000)
    assert len(ctx.store.comparisons()) == 2  # the queued press generated the second prompt's answers


def test_answer_settings_are_remembered_per_project(qtbot, ctx, tmp_path, tiny_model_dir):
    from studio.core.project import Project
    from studio.ui.context import StudioContext

    page = show(qtbot, RankPage(ctx))
    assert page.tokens_spin.value() == 0 and page.tokens_spin.text().startswith("Auto")
    page.tokens_spin.setValue(96)
    page.k_spin.setValue(3)
    again = show(qtbot, RankPage(ctx))
    assert (again.tokens_spin.value(), again.k_spin.value()) == (96, 3)
    Project.init(tmp_path / "other", model=str(tiny_model_dir)).close()
    other = StudioContext(tmp_path / "other")
    fresh = show(qtbot, RankPage(other))
    assert (fresh.tokens_spin.value(), fresh.k_spin.value()) == (0, 2)  # another project keeps its own
    other.shutdown()


def test_a_new_annotator_typed_in_the_box_ranks_afresh_and_cannot_undo_the_last_ones(qtbot, ctx):
    first, second = seed(ctx.store, 2), seed(ctx.store, 2, "R")
    page = show(qtbot, RankPage(ctx))
    press(qtbot, page, "1")  # "tester" ranks the first comparison
    assert page.comparison.id == second
    page.annotator.setText(" ")
    page.annotator.editingFinished.emit()
    assert page.annotator.text() == "tester" and page.comparison.id == second  # an empty box changes nothing
    page.annotator.setText("ann")
    page.annotator.editingFinished.emit()
    assert ctx.annotator == "ann" and page.comparison.id == first  # "ann" has ranked nothing yet
    qtbot.keyClick(page.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [(r.comparison_id, r.annotator) for r in ctx.store.rankings()] == [(first, "tester")]
