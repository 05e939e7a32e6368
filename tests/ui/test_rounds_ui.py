"""The round in the window: one Train page button that samples, then trains, the round after the latest online run,
the same round offered under each alarm that labels can answer for the alarm's own run, and the Oversight page's
chart of proxy reward and gold win rate against KL across the rounds."""
import math

from PySide6.QtWidgets import QPushButton

from studio.core import oversight_store as ov
from studio.core import rounds as plan
from studio.core.active import queue_head
from studio.core.monitor import Alarm
from studio.ui import train_page
from studio.ui.oversight_page import OversightPage
from studio.ui.train_page import TrainPage
from tests.core.test_rounds import _gold, _online_run
from tests.ui.seed import PROMPTS, seed_data, seed_runs


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
    xs, gold = page.round_plot.left_curve.getData()
    _, proxy = page.round_plot.right_curve.getData()
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
    hacked = _online_run(ctx.store)  # its settings, as a run stores them, and an alarm a round answers
    with ctx.store.transaction():
        ctx.store.db.execute("UPDATE runs SET config = json_set(config, '$.uncertainty_penalty', 0.0) WHERE id = ?",
                             [hacked])
    _round_alarm(ctx.store, hacked)
    plan.record_prepared(ctx.store, hacked, [], [])
    page.refresh()
    assert page.round_button.text() == f"Train next round (after run {hacked}, cautious reward)"


def _round_alarm(store, run: int) -> None:
    ov.add_alarm(store, run, Alarm("collapse", 1, 3, "the answers are collapsing", "rank these curt answers"))


def test_an_alarm_offers_the_round_after_its_own_run_and_a_run_without_one_offers_none(qtbot, ctx, monkeypatch):
    older, latest = _online_run(ctx.store), _online_run(ctx.store)
    _round_alarm(ctx.store, older)
    ov.add_alarm(ctx.store, older, Alarm("entropy", 2, 3, "entropy fell", "raise the temperature"))
    started = []

    def fake_round_job(run_id: int, action: str):
        started.append((run_id, action))
        return lambda job_ctx: {"run_id": run_id, "status": "sampled", "step": 0, "note": "sampled"}

    monkeypatch.setattr(train_page, "round_job", fake_round_job)
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.show_run(older)
    [button] = page.alarms.round_buttons  # under the collapse alarm; entropy's fix is a setting, not a round
    assert page.alarms.count() == 3 and page.alarms.itemWidget(page.alarms.item(1)).findChild(QPushButton) is button
    assert button.text() == f"Label what the policy writes now (round after run {older})" and button.isEnabled()
    assert page.round_button.text() == f"Sample next round (after run {latest})"  # the page's own: the latest run
    button.click()
    job = page.job
    assert started == [(older, "sample")] and not button.isEnabled()  # one round at a time
    with qtbot.waitSignal(job.finished, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: page.job is None)
    page.show_run(latest)
    assert page.alarms.round_buttons == [] and page.alarms.item(0).text() == "No alarms."
    running = ctx.store.create_run("ppo", {"_reward": "1"})
    _round_alarm(ctx.store, running)
    page.show_run(running)
    [button] = page.alarms.round_buttons
    assert not button.isEnabled() and f"run {running} is a running ppo run" in button.toolTip()


def _train_rloo(root) -> int:
    """A finished tiny RLOO run on the project's latest SFT and reward runs (for real, on the CPU), set to optimise
    the reward model's own score."""
    from studio.core.project import Project
    from studio.training.online_configs import RLOOConfig
    from studio.training.runs import open_base, train

    project = Project.open(root)
    try:
        config = RLOOConfig(iterations=2, batch_size=2, samples_per_prompt=2, max_new_tokens=6, lora_r=4,
                            lora_alpha=8, checkpoint_every=100, samples_per_iteration=2, uncertainty_penalty=0.0)
        run, result = train(project, open_base(project, device="cpu"), "rloo", config)
    finally:
        project.close()
    assert result.status == "finished"
    return run


def test_an_alarms_button_queues_the_round_of_its_run_with_the_flagged_prompts_first(qtbot, ctx, monkeypatch):
    from studio.training import rounds

    store = ctx.store
    seed_data(store)
    seed_runs(ctx.project.root)
    run = _train_rloo(ctx.project.root)
    latest = _online_run(store)
    with store.transaction():  # the run's samples replaced by a round that collapsed on three prompts
        store.db.execute("DELETE FROM samples WHERE run_id = ?", [run])
        store.db.execute("DELETE FROM metrics WHERE run_id = ?", [run])
    watch = ov.watch_run(store, run)  # the monitor raises the alarm, as during the run
    healthy = "A kind and careful answer that says something real about it."
    for step, pairs in enumerate([[(PROMPTS[0], healthy), (PROMPTS[1], healthy)],
                                  [(PROMPTS[2], healthy), (PROMPTS[3], "Maps.")],
                                  [(PROMPTS[4], "Jazz."), (PROMPTS[5], "Soup now.")]], 1):
        rows = [{"prompt": p, "response": a} for p, a in pairs]
        store.add_samples(run, step, rows)
        watch.samples(step, rows)
    flagged = PROMPTS[3:]
    [(_, alarm)] = ov.alarms(store, run)
    assert alarm.signal == "collapse" and "Label next: 3 of the policy's 6 answers of rounds 1-3, those under 3 " \
                                          "words" in alarm.action
    writes = iter(("policy", "start"))

    def fake_generate(model, tokenizer, prompts, sampling, num_return_sequences, **kw):
        who = next(writes)
        return [[f"The {who} answer {j} says something sensible about {p}" for j in range(num_return_sequences)]
                for p in prompts]

    monkeypatch.setattr(rounds, "generate", fake_generate)
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.show_run(run)
    assert "\n   → Label next: 3 of the policy's 6 answers of rounds 1-3, those under 3 words, each against the " \
           "starting policy's answer to its prompt (3 prompts, which a round samples first)" in page.alarms.item(0).text()
    [button] = page.alarms.round_buttons
    button.click()
    ended = []  # the job's result, or its error message
    page.job.finished.connect(ended.append)
    page.job.failed.connect(ended.append)
    qtbot.waitUntil(lambda: bool(ended), timeout=180_000)
    assert isinstance(ended[0], dict) and ended[0]["status"] == "sampled", ended
    ready = plan.prepared(store, run)
    assert plan.prepared(store, latest) is None and ready["comparisons"] and ready["gold"]
    assert queue_head(store) == ready["gold"] + ready["comparisons"]
    made = [store.comparison(c) for c in ready["comparisons"]]
    assert sorted(c.prompt for c in made[:3]) == sorted(flagged)
    assert all(len(c.responses) == 2 for c in made)  # K as the project ranks: pairs
    assert all(c.responses[0].startswith("The policy") and c.responses[1].startswith("The start") for c in made)
    qtbot.waitUntil(lambda: page.job is None)
    assert [b.text() for b in page.alarms.round_buttons] == [f"Train the round after run {run} on your labels, with "
                                                             "the cautious reward (uncertainty_penalty 1.0)"]
