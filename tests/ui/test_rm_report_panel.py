import csv


from studio.core import oversight_store as ov
from studio.core.monitor import Alarm
from studio.core.rm_health import SCORES_FILE, ScoredPair, save_scored
from studio.ui.rm_report_panel import RMReportPanel
from studio.ui.train_page import TrainPage


def reward_run_with_scores(ctx) -> tuple[int, int]:
    """A finished reward run whose saved held-out scores get comparison `wrong` (3 answers) wrong."""
    store = ctx.store
    pid = store.add_prompt("name a fruit")
    ids = [store.add_response(pid, t, "base") for t in ("banana", "lemon", "a very long rambling fruit answer")]
    wrong = store.add_comparison(pid, ids)
    run = store.create_run("reward", {})
    store.update_run(run, status="finished")
    pairs = [ScoredPair("name a fruit", "banana", "lemon", -1.0, 2.0, wrong),
             ScoredPair("q", "good", "bad", 1.5, 0.0, None), ScoredPair("q2", "fine", "poor", 0.5, 0.1, None)]
    save_scored(ctx.project.run_dir(run) / SCORES_FILE, pairs, "held-out")
    return run, wrong


def test_panel_shows_report_exports_and_reranks_the_worst_pair(qtbot, ctx, tmp_path):
    run, wrong = reward_run_with_scores(ctx)
    panel = RMReportPanel(ctx)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.show_run(run).finished, timeout=10_000):
        pass
    assert panel.summary.text().startswith(f"Run {run}: <b>held-out accuracy 0.67 (3 pairs)</b> · ECE")
    assert panel.worst.rowCount() == 1 and panel.worst.item(0, 0).text() == "-3.00"
    assert len(panel.reliability.getPlotItem().listDataItems()) == 2     # diagonal + bins
    with qtbot.waitSignal(panel.export_csv(tmp_path / "r.csv").finished, timeout=10_000):
        pass
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    reliability_rows = [r for r in rows if r[0] == "reliability"]
    assert sum(int(r[3]) for r in reliability_rows) == 6                 # 3 pairs, both orientations
    assert sum(int(r[3]) for r in rows if r[0] == "chosen scores") == 3

    dialog = panel.open_pair(0)
    qtbot.addWidget(dialog)
    assert dialog.order() == [[0], [1], [2]]                             # the human's choice first
    dialog.answers.insertItem(0, dialog.answers.takeItem(1))              # "lemon" dragged to the top
    dialog.accept()
    [ranking] = ctx.store.rankings(wrong)
    assert ranking.annotator == "tester" and ranking.order == [[1], [0], [2]]


def test_panel_without_scores_says_so(qtbot, ctx):
    run = ctx.store.create_run("reward", {})
    panel = RMReportPanel(ctx)
    qtbot.addWidget(panel)
    assert panel.show_run(run) is None
    assert "no held-out scores" in panel.summary.text() and not panel.csv_button.isEnabled()


def test_train_page_lists_a_runs_alarms_and_a_reward_runs_health(qtbot, ctx):
    run, _ = reward_run_with_scores(ctx)
    ppo = ctx.store.create_run("ppo", {})
    ctx.store.update_run(ppo, status="finished")
    ov.add_alarm(ctx.store, ppo, Alarm("kl", 4, 6, "reward keeps rising while KL is high", "raise beta"))
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.show_run(ppo)
    assert page.tabs.currentWidget() is page.alarms
    assert page.tabs.tabText(page.tabs.indexOf(page.alarms)) == "Alarms (1)"
    assert "kl (since round 4)" in page.alarms.item(0).text() and "raise beta" in page.alarms.item(0).text()
    page.show_run(run)
    assert page.tabs.currentWidget() is page.rm_report
    qtbot.waitUntil(lambda: page.rm_report.report is not None, timeout=10_000)
    assert page.alarms.item(0).text() == "No alarms."
    assert page.rm_report.worst.item(0, 1).text() == "name a fruit"


def test_live_metrics_bring_new_alarms_to_the_front_once(qtbot, ctx):
    ppo = ctx.store.create_run("ppo", {})
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page._live_run = ppo          # as once the running job's run row is known
    page.tabs.setCurrentWidget(page.history)
    page._on_metrics(1, {"reward": 0.1})
    assert page.tabs.currentWidget() is page.history and page.alarms.item(0).text() == "No alarms."
    ov.add_alarm(ctx.store, ppo, Alarm("entropy", 2, 2, "entropy fell", "raise the temperature"))
    page._on_metrics(2, {"reward": 0.2})
    assert page.tabs.currentWidget() is page.alarms
    assert page.tabs.tabText(page.tabs.indexOf(page.alarms)) == "Alarms (1)"
    page.tabs.setCurrentWidget(page.history)
    page._on_metrics(3, {"reward": 0.3})   # nothing new: the user's tab stays
    assert page.tabs.currentWidget() is page.history


def test_a_sample_alarm_shows_when_its_samples_arrive(qtbot, ctx):
    ppo = ctx.store.create_run("ppo", {})
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page._live_run = ppo
    page.tabs.setCurrentWidget(page.history)
    ov.add_alarm(ctx.store, ppo, Alarm("nonwords", 1, 3, "9 of 12 words are not words", "rank these last"))
    page._on_samples(3, [{"prompt": "How does a compass work?", "response": "FrulebyFretled.", "reward": 1.0}])
    assert page.tabs.currentWidget() is page.alarms and "nonwords (since round 1)" in page.alarms.item(0).text()


def test_rank_page_shows_the_labellers_pick_after_the_decision(qtbot, ctx):
    from studio.core.rules import Rule, label_with_rule
    from studio.ui.rank_page import RankPage
    from tests.ui.helpers import show

    pid = ctx.store.add_prompt("Q")
    ctx.store.add_comparison(pid, [ctx.store.add_response(pid, t, "base") for t in ("short", "much longer")])
    label_with_rule(ctx.store, Rule.parse("longer"))
    page = show(qtbot, RankPage(ctx))
    assert "rule:" not in page.message.text()       # nothing shown before the person decides
    qtbot.keyClick(page.windowHandle(), "1")
    assert "rule:longer picked 2 (differs)" in page.message.text()
