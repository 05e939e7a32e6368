import pytest
from PySide6.QtCore import Qt

from studio.core import active, agreement
from studio.core.active import Repeat
from studio.core.ratings import Ratings
from studio.ui.annotators_page import AnnotatorsPage
from studio.ui.rate_page import RatePage
from tests.ui.helpers import show


def seed(store) -> list[int]:
    """Three answers: "a…" and "b…" to "Q", "c…" to "R"."""
    q, r = store.add_prompt("Q"), store.add_prompt("R")
    return [store.add_response(q, "a" * 20, "base"), store.add_response(q, "b" * 20, "base"),
            store.add_response(r, "c" * 20, "base")]


def press(qtbot, page, key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(page.windowHandle(), key, modifier)


def undo(qtbot, page):
    press(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def stored(ctx) -> list[tuple[int, bool, str]]:
    return [(r.response_id, r.label, r.annotator) for r in Ratings(ctx.store).list()]


@pytest.mark.parametrize(("key", "good"), [(Qt.Key.Key_Up, True), ("J", True), (Qt.Key.Key_Down, False),
                                           ("K", False)])
def test_one_key_stores_the_rating_at_once_and_shows_the_next_answer(qtbot, ctx, key, good):
    ids = seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    assert (page.prompt_view.toPlainText(), page.answer_view.toPlainText()) == ("Q", "a" * 20)
    assert "Left: <b>3</b>" in page.counters.text()
    press(qtbot, page, key)
    assert stored(ctx) == [(ids[0], good, "tester")]
    assert Ratings(ctx.store).list()[0].created
    assert page.item.response_id == ids[1] and page.answer_view.toPlainText() == "b" * 20
    assert "Today: <b>1</b>" in page.counters.text() and "Left: <b>2</b>" in page.counters.text()


def test_the_keys_are_shown_on_screen(qtbot, ctx):
    seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    assert page.keys.isVisible()
    for key in ("↑", "J", "↓", "K", "S", "Ctrl+Z"):
        assert key in page.keys.text()
    assert "J" in page.buttons["good"].text() and "K" in page.buttons["bad"].text()


def test_skip_stores_nothing_and_undo_brings_it_back(qtbot, ctx):
    ids = seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    press(qtbot, page, "S")
    assert stored(ctx) == [] and page.item.response_id == ids[1]
    undo(qtbot, page)
    assert stored(ctx) == [] and page.item.response_id == ids[0]
    press(qtbot, page, "S")
    press(qtbot, page, "S")
    press(qtbot, page, "S")
    assert stored(ctx) == [] and page.item is None
    assert page.empty.isVisible() and "3 skipped" in page.empty.text()


def test_ctrl_z_deletes_the_last_rating_and_shows_that_answer_again(qtbot, ctx):
    ids = seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    press(qtbot, page, "J")
    press(qtbot, page, "K")
    assert stored(ctx) == [(ids[0], True, "tester"), (ids[1], False, "tester")]
    undo(qtbot, page)
    assert stored(ctx) == [(ids[0], True, "tester")]
    assert page.item.response_id == ids[1] and page.answer_view.toPlainText() == "b" * 20
    press(qtbot, page, "J")  # rated again, the other way
    assert stored(ctx)[-1] == (ids[1], True, "tester")
    undo(qtbot, page)
    undo(qtbot, page)
    assert stored(ctx) == [] and page.item.response_id == ids[0]
    undo(qtbot, page)
    assert "Nothing to undo" in page.message.text()


def test_liked_and_disliked_answers_make_a_preference_pair(qtbot, ctx):
    seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    press(qtbot, page, Qt.Key.Key_Down)
    press(qtbot, page, Qt.Key.Key_Up)
    [pair] = Ratings(ctx.store).pairs()
    assert (pair.prompt, pair.chosen, pair.rejected, pair.weight) == ("Q", "b" * 20, "a" * 20, 1.0)


def test_each_annotator_rates_every_answer(qtbot, ctx):
    ids = seed(ctx.store)
    Ratings(ctx.store).add(ids[0], True, "ann")
    page = show(qtbot, RatePage(ctx))
    assert page.item.response_id == ids[0]  # "tester" has not rated it yet
    page.annotator.setText("ann")
    page.annotator.editingFinished.emit()
    assert ctx.annotator == "ann" and page.item.response_id == ids[1]
    press(qtbot, page, "K")
    assert stored(ctx)[-1] == (ids[1], False, "ann")
    ctx.annotator = "cy"  # changed on the Rank page: the Rate page follows when it is refreshed
    page.refresh()
    assert page.annotator.text() == "cy" and page.item.response_id == ids[0]
    undo(qtbot, page)
    assert stored(ctx)[-1] == (ids[1], False, "ann")  # "ann"'s rating is not "cy"'s to undo


def test_nothing_to_rate(qtbot, ctx):
    page = show(qtbot, RatePage(ctx))
    press(qtbot, page, "J")
    assert stored(ctx) == [] and "Nothing left to rate" in page.empty.text()
    assert not page.buttons["good"].isEnabled() and page.make_demo() is None


def test_import_and_export_run_in_the_background_and_a_bad_file_names_its_line(qtbot, ctx, tmp_path):
    page = show(qtbot, RatePage(ctx))
    good = tmp_path / "in.jsonl"
    good.write_text('{"prompt": "Q", "completion": "yes", "label": true}\n'
                    '{"prompt": "Q", "completion": "no", "label": false}\n', encoding="utf-8")
    with qtbot.waitSignal(page.import_jsonl(str(good)).finished, timeout=10_000):
        pass
    assert "Imported 2 ratings" in page.message.text()
    qtbot.waitUntil(lambda: page.item is not None)  # the page refreshes when the job ends
    assert [(r.label, r.annotator) for r in Ratings(ctx.store).list()] == [(True, "import"), (False, "import")]
    assert page.item.response in ("yes", "no")  # "tester" has not rated them yet

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "R", "completion": "x", "label": true}\n{"prompt": "R", "completion": "y"}\n')
    with qtbot.waitSignal(page.import_jsonl(str(bad)).failed, timeout=10_000):
        pass
    assert "line 2" in page.message.text() and "nothing added" in page.message.text()
    assert len(Ratings(ctx.store).list()) == 2

    with qtbot.waitSignal(page.export_jsonl(str(tmp_path / "out.jsonl")).finished, timeout=10_000):
        pass
    assert (tmp_path / "out.jsonl").read_bytes() == good.read_bytes()


def test_an_unbalanced_set_of_ratings_suggests_kto_weights(qtbot, ctx):
    ids = seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    press(qtbot, page, "J")
    press(qtbot, page, "J")
    assert page.balance.text() == ""  # only good ratings: nothing to balance
    press(qtbot, page, "K")
    assert "2 answers rated good and 1 bad" in page.balance.text()
    assert "desirable_weight to 0.50-0.67" in page.balance.text()
    assert stored(ctx)[-1] == (ids[2], False, "tester")


def test_the_shown_answer_can_become_a_demonstration(qtbot, ctx):
    seed(ctx.store)
    page = show(qtbot, RatePage(ctx))
    dialog = page.make_demo()
    assert (dialog.prompt_edit.toPlainText(), dialog.response_edit.toPlainText()) == ("Q", "a" * 20)
    dialog.response_edit.setPlainText("A better answer.")
    dialog.accept()
    [demo] = ctx.store.demos()
    assert (demo.prompt, demo.response) == ("Q", "A better answer.")
    assert "Added a demonstration" in page.message.text() and stored(ctx) == []  # no rating from it


def test_a_rating_repeat_comes_back_unannounced_and_counts_in_self_consistency(qtbot, ctx):
    p = ctx.store.add_prompt("Q")
    ids = [ctx.store.add_response(p, f"answer {i}", "base") for i in range(active.REPEAT_EVERY + 1)]
    c = ctx.store.add_comparison(p, [ctx.store.add_response(p, f"ranked {i}", "base") for i in range(2)])
    ctx.store.add_ranking(c, [[0], [1]], "tester")
    active.add_repeat(ctx.store, Repeat(ctx.store.comparison(c), [1, 0]), [[0], [1]], "tester")  # best was 0, now 1
    page = show(qtbot, RatePage(ctx))
    for i in range(active.REPEAT_EVERY):
        assert page.item.response_id == ids[i] and not page.repeat
        press(qtbot, page, "J" if i % 2 == 0 else "K")       # even answers good, odd ones bad
    assert page.repeat and page.item.response_id in ids[:10]  # rated at least REPEAT_AFTER ratings ago
    again = page.item.response_id
    was_good = ids.index(again) % 2 == 0
    assert page.answer_view.toPlainText() == f"answer {ids.index(again)}" and "Saved:" in page.message.text()
    press(qtbot, page, "K" if was_good else "J")             # the other way this time
    assert [(r["response_id"], bool(r["label"])) for r in active.rating_repeats(ctx.store)] == [(again, not was_good)]
    assert len(stored(ctx)) == 20 and (again, was_good, "tester") in stored(ctx)  # the first rating is kept
    assert page.item.response_id == ids[20] and not page.repeat
    undo(qtbot, page)
    assert active.rating_repeats(ctx.store) == [] and page.repeat and page.item.response_id == again
    press(qtbot, page, "J" if was_good else "K")             # the same as the first time
    assert [bool(r["label"]) for r in active.rating_repeats(ctx.store)] == [was_good]
    # by hand: the ranking repeat differs (0), the rating repeat is the same (1): 1 of 2
    [me] = agreement.annotator_report(ctx.store)["annotators"]
    assert (me["self_consistency"], me["self_repeats"], me["repeats"]) == (0.5, 2, 2)
    annotators = show(qtbot, AnnotatorsPage(ctx))
    qtbot.waitUntil(lambda: annotators.report is not None, timeout=10000)
    assert annotators.annotators.item(0, 3).text() == "50% of 2"


def test_a_skipped_repeat_gives_way_to_new_answers_and_undo_brings_it_back_as_a_repeat(qtbot, ctx):
    p = ctx.store.add_prompt("Q")
    ids = [ctx.store.add_response(p, f"answer {i}", "base") for i in range(active.REPEAT_EVERY + 2)]
    page = show(qtbot, RatePage(ctx))
    for _ in range(active.REPEAT_EVERY):
        press(qtbot, page, "J")
    assert page.repeat
    repeated = page.item.response_id
    press(qtbot, page, "S")
    assert page.item.response_id == ids[20] and not page.repeat
    press(qtbot, page, "S")                                  # still no repeat until the next rating
    assert page.item.response_id == ids[21] and not page.repeat
    undo(qtbot, page)
    undo(qtbot, page)
    assert page.repeat and page.item.response_id == repeated
    assert active.rating_repeats(ctx.store) == [] and len(stored(ctx)) == 20
