import csv

import pytest
from PySide6.QtCore import Qt

from studio.ui.train_page import TrainPage
from studio.workers.config_fields import config_fields
from tests.ui.seed import seed_data, seed_runs

TINY_PPO = {"iterations": 20, "batch_size": 2, "max_new_tokens": 8, "ppo_epochs": 1, "minibatches": 1,
            "lora_r": 4, "lora_alpha": 8, "samples_per_iteration": 2, "checkpoint_every": 100}


@pytest.fixture
def seeded_ctx(ctx):
    seed_data(ctx.store)
    return ctx


@pytest.fixture
def trained_ctx(seeded_ctx):
    seed_runs(seeded_ctx.project.root)
    return seeded_ctx


def make_page(qtbot, ctx) -> TrainPage:
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    return page


def test_form_fields_have_plain_tooltips(qtbot, ctx):
    page = make_page(qtbot, ctx)
    for kind in ("sft", "reward", "dpo", "ppo"):
        page.set_kind(kind)
        assert page.form.editors, kind
        for name, (_, editor) in page.form.editors.items():
            assert len(editor.toolTip()) > 20, (kind, name)
    tips = {name: editor.toolTip() for name, (_, editor) in page.form.editors.items()}
    assert "Beta" in tips["init_kl_coef"] and "KL" in tips["target_kl"]
    assert "GAE" in tips["lam"] and "Clip" in tips["cliprange"]
    assert page.form.values()["missing_eos_penalty"] is None
    assert page.reward_combo.isVisible() and page.init_combo.isVisible()
    assert {p.title for p in page.board.plots} >= {"reward", "KL", "beta", "entropy", "value loss",
                                                    "clip fraction", "response length"}


@pytest.mark.parametrize(("kind", "says"), [("ppo", "Train a reward model first"),
                                            ("sft", "Add demonstrations first"), ("dpo", "Rank some comparisons")])
def test_a_run_without_its_data_is_refused_inline_before_it_is_created(qtbot, ctx, kind, says):
    page = make_page(qtbot, ctx)
    page.set_kind(kind)
    assert page.start() is None and page.job is None
    assert page.error.isVisible() and says in page.error.text()
    assert ctx.store.runs() == [] and page.start_button.isEnabled()


def test_train_settings_are_remembered_per_project(qtbot, ctx):
    page = make_page(qtbot, ctx)
    page.set_kind("dpo")
    page.form.set_values({"steps": 7, "beta": 0.25})
    page.start()  # refused (no rankings), but what was set is remembered
    again = make_page(qtbot, ctx)
    assert again.selected_kind == "dpo"
    assert again.form.values()["steps"] == 7 and again.form.values()["beta"] == 0.25
    again.set_kind("sft")  # each kind keeps its own settings
    assert again.form.values()["steps"] == next(f.default for f in config_fields("sft") if f.name == "steps")


def test_automatic_checkpointing_is_a_half_checked_box_that_can_be_set_and_unset(qtbot, ctx):
    page = make_page(qtbot, ctx)
    page.set_kind("reward")
    box = page.form.editors["gradient_checkpointing"][1]
    assert box.checkState() == Qt.CheckState.PartiallyChecked and page.form.values()["gradient_checkpointing"] is None
    assert "automatic" in box.toolTip()
    box.setCheckState(Qt.CheckState.Checked)
    assert page.form.values()["gradient_checkpointing"] is True
    page.form.set_values({"gradient_checkpointing": None})
    assert page.form.values()["gradient_checkpointing"] is None
    page.set_kind("ppo")  # PPO's plain switches stay two-state
    assert not page.form.editors["adaptive_kl"][1].isTristate()


def test_sft_run_from_the_page_finishes_and_lists_in_history(qtbot, seeded_ctx, tmp_path):
    page = make_page(qtbot, seeded_ctx)
    page.set_kind("sft")
    page.form.set_values({"steps": 3, "batch_size": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8})
    job = page.start()
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    assert done.args[0]["status"] == "finished"
    qtbot.waitUntil(lambda: page.job is None)
    assert page.board.plot("loss").series("loss")[0] == [1, 2, 3]
    assert page.history.item(0, 2).text() == "finished"
    assert page.history.item(0, 4).text().startswith("loss ")
    assert page.history.item(0, 0).font().bold()  # the run whose curves are shown
    page.show_run(page.history.item(0, 0).data(Qt.ItemDataRole.UserRole))
    assert page.history.item(0, 0).font().bold()
    export = page.export_csv(tmp_path / "sft.csv")
    with qtbot.waitSignal(export.finished, timeout=10_000):
        pass
    with (tmp_path / "sft.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["step", "loss"] and len(rows) == 4


def test_ppo_curves_grow_live_and_stop_cancels(qtbot, trained_ctx):
    ctx = trained_ctx
    page = make_page(qtbot, ctx)
    page.set_kind("ppo")
    page.form.set_values(TINY_PPO)
    job = page.start()
    reward, kl = page.board.plot("reward"), page.board.plot("KL")
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) >= 1, timeout=120_000)
    assert page.history.item(0, 2).text() == "running"
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) >= 2, timeout=60_000)
    qtbot.waitUntil(lambda: reward.drawn("reward") >= 2 and kl.drawn("kl") >= 2, timeout=2_000)
    spread = page.board.plot("reward-model disagreement")  # the seeded reward run has an ensemble (6 pairs)
    qtbot.waitUntil(lambda: spread.drawn("ensemble_disagreement") >= 2, timeout=2_000)
    assert all(v > 0 for v in spread.series("ensemble_disagreement")[1])
    assert reward.series("reward")[0][:2] == [1, 2] and kl.series("kl")[0][:2] == [1, 2]
    assert page.samples.rowCount() >= 2 and page.samples.item(0, 0).text() == "1"
    qtbot.waitUntil(lambda: "left" in page.status.text(), timeout=5_000)  # "Step 2 of 20 · about 9 s left"

    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is None)
    run = ctx.store.runs("ppo")[-1]
    assert run.status == "cancelled" and 2 <= run.step < TINY_PPO["iterations"]
    page.history.selectRow(0)
    assert page.resume_button.isEnabled()
    assert len(page.board.plot("reward").series("reward")[0]) == run.step  # reloaded from the store

    job = page.resume()  # goes on from the checkpoint, then stop it again
    reward = page.board.plot("reward")
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) > run.step, timeout=60_000)
    assert reward.series("reward")[0][run.step] == run.step + 1
    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        page.stop()
    assert ctx.store.run(run.id).status == "cancelled"


def test_eval_figures_say_how_many_examples_they_rest_on(qtbot, seeded_ctx):
    page = make_page(qtbot, seeded_ctx)
    page.set_kind("reward")  # 6 ranked prompts: fewer than 10, so nothing is held out
    assert page.eval_note.isVisible()
    assert page.eval_note.text().startswith("Eval figures rest on 0 held-out prompts (of 6): too few")
    assert "194 more ranked prompts" in page.eval_note.text()
    page.set_kind("ppo")
    assert not page.eval_note.isVisible()


@pytest.mark.parametrize("kind", ["reward", "dpo"])
def test_the_ranking_loss_is_a_list_of_its_choices_remembered_per_project(qtbot, ctx, kind):
    page = make_page(qtbot, ctx)
    page.set_kind(kind)
    box = page.form.editors["ranking_loss"][1]
    assert [box.itemText(i) for i in range(box.count())] == ["auto", "pairs", "plackett_luce"]
    assert page.form.values()["ranking_loss"] == "auto" and "plackett_luce: the whole ranking" in box.toolTip()
    assert "auto (the default): plackett_luce when some ranking orders its answers in more than 2" in box.toolTip()
    box.setCurrentText("plackett_luce")
    page.start()  # refused (no rankings), but what was set is remembered
    again = make_page(qtbot, ctx)
    again.set_kind(kind)
    assert again.form.values()["ranking_loss"] == "plackett_luce"
