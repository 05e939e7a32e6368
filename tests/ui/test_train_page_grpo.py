"""The Train page runs GRPO from the registry alone: its form (with its named choices), live curves, samples, Stop."""
import pytest
from PySide6.QtCore import Qt

from studio.ui.train_page import TrainPage
from tests.ui.seed import seed_data, seed_runs

TINY_GRPO = {"iterations": 20, "batch_size": 2, "samples_per_prompt": 2, "max_new_tokens": 8, "lora_r": 4,
             "lora_alpha": 8, "samples_per_iteration": 2, "checkpoint_every": 100, "beta": 0.05,
             "loss_type": "dr_grpo", "scale_rewards": "none"}


def test_grpo_form_takes_its_named_choices(qtbot, ctx):
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.set_kind("grpo")
    values = page.form.values()
    assert (values["loss_type"], values["scale_rewards"], values["beta"], values["epsilon_high"]) == (
        "dapo", "group", 0.0, None)
    page.form.set_values({"loss_type": "dr_grpo"})
    assert page.form.values()["loss_type"] == "dr_grpo"
    assert "dapo" in page.form.editors["loss_type"][1].toolTip()
    page.form.set_values({"epsilon_high": "x"})
    with pytest.raises(ValueError, match="epsilon high must be a number"):
        page.form.values()


def test_grpo_run_from_the_page_plots_live_and_stops(qtbot, ctx):
    seed_data(ctx.store)
    runs = seed_runs(ctx.project.root)
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    page.set_kind("grpo")
    page.form.set_values(TINY_GRPO)
    job = page.start()
    reward, kl = page.board.plot("reward"), page.board.plot("KL")
    clip, spread = page.board.plot("clip fraction"), page.board.plot("group reward std")
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) >= 2, timeout=120_000)
    qtbot.waitUntil(lambda: reward.drawn("reward/reward_model") >= 2 and kl.drawn("kl") >= 2
                    and clip.drawn("clip_frac_low") >= 2 and spread.drawn("reward_std") >= 2, timeout=2_000)
    assert page.samples.rowCount() >= 2 and page.samples.item(0, 0).text() == "1"
    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is None)
    run = ctx.store.runs("grpo")[-1]
    assert run.status == "cancelled" and run.config["loss_type"] == "dr_grpo"
    assert (run.parent, run.config["_reward"]) == (runs["sft"], str(runs["reward"]))
