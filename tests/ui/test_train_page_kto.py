"""KTO on the Train page: its form, its live curves and its run history, on ratings made in the store."""
from studio.core.ratings import Ratings
from tests.ui.seed import seed_data
from tests.ui.test_train_page import make_page

TINY_KTO = {"steps": 4, "batch_size": 4, "max_length": 64, "lora_r": 4, "lora_alpha": 8, "eval_every": 2}


def test_kto_form_has_tooltips_and_a_start_policy(qtbot, ctx):
    page = make_page(qtbot, ctx)
    page.set_kind("kto")
    tips = {name: editor.toolTip() for name, (_, editor) in page.form.editors.items()}
    assert {"beta", "desirable_weight", "undesirable_weight"} <= set(tips)
    assert all(len(tip) > 20 for tip in tips.values())
    assert page.init_combo.isVisible() and not page.reward_combo.isVisible()
    assert {p.title for p in page.board.plots} == {"loss", "implicit rewards", "margin", "KL reference point"}
    assert page.board.plot("KL reference point").toolTip()


def test_kto_run_from_the_page_plots_live_and_lists_in_history(qtbot, ctx):
    seed_data(ctx.store)
    ratings = Ratings(ctx.store)
    for response in ctx.store.responses():
        ratings.add(response.id, "banana" in response.text, "tester")
    page = make_page(qtbot, ctx)
    page.set_kind("kto")
    page.form.set_values(TINY_KTO)
    job = page.start()
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    assert done.args[0]["status"] == "finished" and done.args[0]["step"] == 4
    qtbot.waitUntil(lambda: page.job is None)
    assert page.board.plot("loss").series("loss")[0] == [1, 2, 3, 4]
    assert page.board.plot("KL reference point").series("kl")[0] == [1, 2, 3, 4]
    assert page.history.item(0, 1).text() == "KTO" and page.history.item(0, 2).text() == "finished"
    assert "margin" in page.history.item(0, 4).text()
