"""The round in the window: one Train page button that samples, then trains, the round after the latest online run,
and the Oversight page's chart of proxy reward and gold win rate against KL across the rounds."""
import math

from studio.core import rounds as plan
from studio.ui.oversight_page import OversightPage
from studio.ui.train_page import TrainPage
from tests.core.test_rounds import _gold, _online_run


def test_the_round_chart_draws_proxy_and_gold_against_kl(qtbot, ctx):
    first = _online_run(ctx.store, kl=1.0, reward=0.5)
    second = _online_run(ctx.store, start=first, kl=3.0, reward=1.5)
    third = _online_run(ctx.store, start=second, kl=4.0, reward=2.0)  # its gold checks are not ranked yet
    _gold(ctx.store, first, [True, False])
    _gold(ctx.store, second, [True, True, True, False])
    page = OversightPage(ctx)
    qtbot.addWidget(page)
    page.refresh()
    page.gold_run.setCurrentIndex(page.gold_run.findData(third))
    xs, proxy = page.round_plot.left_curve.getData()
    _, gold = page.round_plot.right_curve.getData()
    assert list(xs) == [1.0, 3.0, 4.0] and list(proxy) == [0.5, 1.5, 2.0]
    assert list(gold[:2]) == [0.5, 0.75] and math.isnan(gold[2])


def test_one_button_samples_then_trains_the_round(qtbot, ctx):
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    assert not page.round_button.isEnabled()  # no online run to go on from
    run = _online_run(ctx.store)
    page.refresh()
    assert page.round_button.isEnabled() and page.round_button.text() == f"Sample next round (after run {run})"
    plan.record_prepared(ctx.store, run, [], [])
    page.refresh()
    assert page.round_button.text() == f"Train next round (after run {run})"
