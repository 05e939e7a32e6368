import csv

from studio.core import oversight_store as ov
from studio.ui.oversight_page import OversightPage
from tests.judge_model import CASES, PRINCIPLE, RANKED


def make_page(qtbot, ctx) -> OversightPage:
    page = OversightPage(ctx)
    qtbot.addWidget(page)
    return page


def seed(store) -> list[int]:
    made = []
    for question, texts in CASES[:3]:
        pid = store.add_prompt(question)
        made.append(store.add_comparison(pid, [store.add_response(pid, t, "base") for t in texts]))
    return made


def wait_job(qtbot, job, timeout=60_000):
    with qtbot.waitSignal(job.finished, timeout=timeout):
        pass


def test_principles_rule_labeller_and_agreement(qtbot, ctx):
    made = seed(ctx.store)
    ctx.store.add_ranking(made[0], [[0], [1]], "tester")
    ctx.store.add_ranking(made[1], [[0], [1]], "tester")
    page = make_page(qtbot, ctx)
    page.add_principle()
    assert "Write the principle first" in page.message.text()
    page.principle_edit.setText("prefer fruit")
    page.add_principle()
    assert page.selected_principle() == "prefer fruit" and ov.principles(ctx.store) == [(1, "prefer fruit")]

    page.rule_kind.setCurrentIndex(page.rule_kind.findData("regex"))
    page.rule_argument.setText("(")
    assert page.label_with_rule() is None and "invalid" in page.message.text()
    page.rule_kind.setCurrentIndex(page.rule_kind.findData("contains"))
    page.rule_argument.setText("banana")
    wait_job(qtbot, page.label_with_rule())
    assert "labelled 2 comparisons; 1 it cannot tell apart" in page.message.text()
    labels = {r.comparison_id: r.order for r in ctx.store.rankings() if r.annotator == "rule:contains:banana"}
    assert labels == {made[0]: [[0], [1]], made[1]: [[1], [0]]}
    qtbot.waitUntil(lambda: page.agreement.rowCount() == 1, timeout=10_000)
    assert [page.agreement.item(0, c).text() for c in range(4)] == ["rule:contains:banana", "tester", "2", "50%"]
    assert [page.disagree.item(0, c).text() for c in range(3)] == [str(made[1]), "rule:contains:banana", "say a fruit"]
    dialog = page.open_disagreement(0)
    qtbot.addWidget(dialog)
    assert dialog.order() == [[1], [0]]          # the labeller's pick on top, ready to accept
    dialog.accept()
    qtbot.waitUntil(lambda: page.disagree.rowCount() == 0 and page.agreement.item(0, 3).text() == "100%",
                    timeout=10_000)


def test_ai_label_and_critique_revise_on_the_loaded_model(qtbot, ctx, judge_model_dir):
    made = seed(ctx.store)  # the first three of the judge model's cases
    page = make_page(qtbot, ctx)
    assert page.label_with_ai() is None and "Select a principle" in page.message.text()
    page.principle_edit.setText(PRINCIPLE)
    page.add_principle()
    page.judge_edit.setText(str(judge_model_dir))
    wait_job(qtbot, page.label_with_ai())
    assert "labelled 2 comparisons and abstained on 1" in page.message.text()
    labels = {r.comparison_id: r.order for r in ctx.store.rankings() if r.annotator == f"ai:{PRINCIPLE}"}
    assert labels == {made[0]: RANKED[0], made[1]: RANKED[1]}
    page.judge_edit.clear()  # critique and revise on the loaded model

    page.revise_prompt.setText("name a fruit")
    page.revise_answer.setPlainText("I will not.")
    wait_job(qtbot, page.critique_and_revise())
    assert page.save_demo_button.isEnabled()
    page.revision.setPlainText("A banana.")
    demo = page.save_revision()
    assert [(d.id, d.prompt, d.response) for d in ctx.store.demos()] == [(demo, "name a fruit", "A banana.")]


def test_gold_checks_curve_and_export(qtbot, ctx, tmp_path):
    store = ctx.store
    run = store.create_run("ppo", {"_init": "base", "max_new_tokens": 4})
    store.add_metrics(run, 2, {"kl": 0.5})
    store.add_samples(run, 2, [{"prompt": "q1", "response": "policy says hi", "reward": 0.8}])
    page = make_page(qtbot, ctx)
    assert page.gold_run.currentData() == run
    wait_job(qtbot, page.make_gold())
    assert page.gold_status.text() == f"1 gold comparisons of run {run}: 0 ranked, 1 to rank on the Rank page."
    [check] = ov.gold_checks(store, run)
    store.add_ranking(check.comparison_id, [[check.policy_position], [1 - check.policy_position]], "tester")
    ctx.data_changed.emit()  # as the Rank page does after a ranking
    assert page.gold_status.text() == f"1 gold comparisons of run {run}: 1 ranked."
    assert [(p.round, p.gold_win_rate, p.proxy_reward) for p in page.gold] == [(2, 1.0, 0.8)]
    wait_job(qtbot, page.make_gold())
    assert "already in the gold checks" in page.message.text()
    wait_job(qtbot, page.export_gold_csv(tmp_path / "gold.csv"), 10_000)
    assert list(csv.reader((tmp_path / "gold.csv").open()))[1] == ["2", "1", "1.0", "0.8", "0.5"]


def test_gold_share_and_reward_score_have_an_axis_each(qtbot, ctx):
    from studio.core.gold import GoldPoint

    page = make_page(qtbot, ctx)
    page.resize(1366, 700)
    page.show()
    qtbot.waitExposed(page)
    page._show_gold([GoldPoint(1, 4, 0.25, 3.5, None), GoldPoint(2, 4, 0.75, 7.0, None)])
    plot = page.gold_plot
    item = plot.getPlotItem()
    assert item.getAxis("left").labelText == "gold: policy wins (share)"
    assert item.getAxis("right").labelText == "proxy: reward-model score" and item.getAxis("right").isVisible()
    assert list(plot.left_curve.getData()[1]) == [0.25, 0.75]
    assert plot.right_curve.getViewBox() is plot.right_view and list(plot.right_curve.getData()[1]) == [3.5, 7.0]
    low, high = item.vb.viewRange()[1]
    assert -0.1 <= low and high <= 1.1  # the share's axis stays 0-1, not stretched to the scores
    low, high = plot.right_view.viewRange()[1]
    assert low <= 3.5 and 7.0 <= high and low > 1  # the score's axis fits the scores
    assert [label.text for _sample, label in item.legend.items] == ["gold: policy wins (share)",
                                                                    "proxy: reward-model score"]
    plot.parentWidget().grab().save("/tmp/gold.png")
