"""The Train page runs RLOO like PPO: its form, live curves and samples, Stop, and a resume from the history."""
from PySide6.QtCore import Qt

from studio.ui.train_page import TrainPage
from tests.ui.seed import seed_data, seed_runs

TINY_RLOO = {"iterations": 20, "batch_size": 2, "samples_per_prompt": 2, "max_new_tokens": 8, "lora_r": 4,
             "lora_alpha": 8, "samples_per_iteration": 2, "checkpoint_every": 100}


def test_rloo_form_has_its_settings_and_sources(qtbot, ctx):
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.show()
    page.set_kind("rloo")
    tips = {name: editor.toolTip() for name, (_, editor) in page.form.editors.items()}
    assert "other k - 1" in tips["samples_per_prompt"] and "KL" in tips["beta"]
    assert "ppo_epochs" not in tips and "vf_coef" not in tips  # no value head, no PPO minibatches
    assert page.reward_combo.isVisible() and page.init_combo.isVisible()
    assert {p.title for p in page.board.plots} >= {"reward", "KL", "entropy", "policy loss", "response length"}


def test_rloo_run_from_the_page_plots_live_stops_and_resumes(qtbot, ctx):
    seed_data(ctx.store)
    runs = seed_runs(ctx.project.root)
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    page.set_kind("rloo")
    page.form.set_values(TINY_RLOO)
    job = page.start()
    reward, kl = page.board.plot("reward"), page.board.plot("KL")
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) >= 2, timeout=120_000)
    qtbot.waitUntil(lambda: reward.drawn("reward") >= 2 and kl.drawn("kl") >= 2, timeout=2_000)
    spread = page.board.plot("reward-model disagreement")  # the seeded reward run has an ensemble (6 pairs)
    qtbot.waitUntil(lambda: spread.drawn("ensemble_disagreement") >= 2, timeout=2_000)
    assert all(v > 0 for v in spread.series("ensemble_disagreement")[1])
    assert reward.series("reward")[0][:2] == [1, 2] and reward.series("rlhf_reward")[0][:2] == [1, 2]
    assert page.tabs.tabText(page.tabs.indexOf(page.samples)) == "RLOO samples"
    assert page.samples.rowCount() >= 2 and page.samples.item(0, 0).text() == "1"
    assert page.history.item(0, 1).text() == "RLOO" and page.history.item(0, 2).text() == "running"

    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is None)
    run = ctx.store.runs("rloo")[-1]
    assert run.status == "cancelled" and 2 <= run.step < TINY_RLOO["iterations"]
    assert (run.parent, run.config["_reward"]) == (runs["sft"], str(runs["reward"]))
    page.history.selectRow(0)
    assert page.resume_button.isEnabled()
    assert len(page.board.plot("reward").series("reward")[0]) == run.step  # reloaded from the store

    job = page.resume()
    reward = page.board.plot("reward")
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) > run.step, timeout=60_000)
    assert reward.series("reward")[0][run.step] == run.step + 1
    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        page.stop()
    assert ctx.store.run(run.id).status == "cancelled"
