from studio.core import active
from studio.core.active import Repeat
from studio.core.ratings import Ratings
from studio.ui.annotators_page import AnnotatorsPage
from tests.ui.helpers import show
from tests.ui.test_rank_page import seed


def _cell(table, row, column) -> str:
    return table.item(row, column).text()


def test_counts_alpha_self_consistency_and_pairs(qtbot, ctx):
    ids = [seed(ctx.store, 2, f"Q{i}") for i in range(3)]
    for c in ids:
        ctx.store.add_ranking(c, [[0], [1]], "ann")
    ctx.store.add_ranking(ids[0], [[0], [1]], "bob")
    ctx.store.add_ranking(ids[1], [[0], [1]], "bob")
    ctx.store.add_ranking(ids[2], [[1], [0]], "bob")
    for c in ids:  # a rule that disagrees with ann everywhere: not a person, so not in the alpha between people
        ctx.store.add_ranking(c, [[1], [0]], "rule:shorter")
    active.add_repeat(ctx.store, Repeat(ctx.store.comparison(ids[0]), [1, 0]), [[1], [0]], "ann")  # same best
    page = show(qtbot, AnnotatorsPage(ctx))
    qtbot.waitUntil(lambda: page.report is not None, timeout=10000)
    assert "rankings 0.39" in page.alpha.text()  # 7/18, as computed by hand in tests/core/test_agreement.py
    assert page.annotators.rowCount() == 2
    assert [_cell(page.annotators, 0, c) for c in range(4)] == ["ann", "3", "0", "100% of 1"]
    assert _cell(page.annotators, 1, 3) == "–" and _cell(page.annotators, 0, 4) == "–"
    assert page.pairs.rowCount() == 1
    assert [_cell(page.pairs, 0, c) for c in range(5)] == ["ann", "bob", "rankings", "3", "0.39"]
    # rule vs ann: all 6 units disagree, 1 - 11 * 6 / 36 = -0.83; vs bob: 4 of 6, 1 - 11 * 4 / 36 = -0.22
    assert [[_cell(page.machines, r, c) for c in range(5)] for r in range(page.machines.rowCount())] == [
        ["rule:shorter", "ann", "rankings", "3", "-0.83"], ["rule:shorter", "bob", "rankings", "3", "-0.22"]]

    ctx.store.add_ranking(ids[2], [[0], [1]], "bob")  # bob changes his mind: full agreement
    ctx.data_changed.emit()
    qtbot.waitUntil(lambda: _cell(page.pairs, 0, 4) == "1.00", timeout=10000)


def test_no_labels_yet(qtbot, ctx):
    page = show(qtbot, AnnotatorsPage(ctx))
    qtbot.waitUntil(lambda: page.report is not None, timeout=10000)
    assert "no labels yet" in page.alpha.text() and page.annotators.rowCount() == 0


def test_recomputes_only_when_labels_change(qtbot, ctx):
    """Every job's end signals data_changed, the report's own included: that alone must not start another
    report, or the page recomputes for ever while shown."""
    ids = [seed(ctx.store, 2, f"Q{i}") for i in range(2)]
    ctx.store.add_ranking(ids[0], [[0], [1]], "ann")
    page = show(qtbot, AnnotatorsPage(ctx))
    qtbot.waitUntil(lambda: page.report is not None and not ctx.running(), timeout=10000)
    started = []
    ctx.job_started.connect(started.append)
    ctx.data_changed.emit()
    assert started == [] and not ctx.running()
    ctx.store.add_ranking(ids[1], [[1], [0]], "ann")
    ctx.data_changed.emit()
    assert len(started) == 1
    qtbot.waitUntil(lambda: not ctx.running() and page.annotators.item(0, 1).text() == "2", timeout=10000)
    response = ctx.store.comparison(ids[0]).response_ids[0]
    Ratings(ctx.store).add(response, True, "ann")
    ctx.data_changed.emit()
    qtbot.waitUntil(lambda: not ctx.running() and page.annotators.item(0, 2).text() == "1", timeout=10000)
    active.add_rating_repeat(ctx.store, response, False, "ann")  # a repeat alone changes self-consistency
    ctx.data_changed.emit()
    assert len(started) == 3
    qtbot.waitUntil(lambda: not ctx.running() and page.annotators.item(0, 3).text() == "0% of 1", timeout=10000)
