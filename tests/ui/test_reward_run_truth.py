"""After its last step a reward run says what it does (checking itself, fitting its uncertainty heads) with its
progress, and its accuracy reads the same, named for its pairs, in the run history, the reward-model box and the
health panel (issue 27, items 5 and 6)."""
import threading

import studio.training.uncertainty as uncertainty
from studio.core.reach import Reach
from studio.core.rm_health import SCORES_FILE, load_scored
from tests.ui.seed import seed_data
from tests.ui.test_train_page import make_page

TINY_REWARD = {"steps": 3, "batch_size": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8, "warmup_steps": 1}


def test_a_reward_run_says_what_follows_its_last_step_and_one_accuracy_everywhere(qtbot, ctx, monkeypatch):
    seed_data(ctx.store)  # 6 ranked prompts: fewer than 10, so the run is checked on its training pairs
    release, fitting = threading.Event(), threading.Event()
    real = uncertainty.fit_heads

    def held_fit(*args, **kwargs):
        """The real fit, once the test has looked at the page while it runs."""
        fitting.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(uncertainty, "fit_heads", held_fit)
    page = make_page(qtbot, ctx)
    page.set_kind("reward")
    page.form.set_values(TINY_REWARD)
    messages: list[str] = []
    try:
        job = page.start()
        job.message.connect(messages.append)
        qtbot.waitUntil(lambda: fitting.is_set() and "Fitting the uncertainty heads: 5 heads" in page.status.text(),
                        timeout=120_000)
        assert page.status.text() == "Step 3 of 3 · Fitting the uncertainty heads: 5 heads on 6 pairs…"
        page.grab().save("/tmp/reward_after_steps.png")
    finally:
        release.set()
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    assert "Checking the reward model on its training pairs: scored 6 of 6…" in messages
    assert "Fitting the uncertainty heads: read 12 of 12 training answers…" in messages

    run = ctx.store.runs("reward")[-1]
    pairs, split = load_scored(ctx.project.run_dir(run.id) / SCORES_FILE)
    right = sum(p.chosen_score > p.rejected_score for p in pairs)  # by hand: no ties, every weight 1
    figure = f"training accuracy {right / 6:.2f} (6 pairs)"
    assert split == "train" and len(pairs) == 6
    qtbot.waitUntil(lambda: page.job is None)
    assert page.history.item(0, 4).text().startswith(figure)
    assert "accuracy" not in page.history.item(0, 4).text().replace(figure, "")
    assert page.reward_combo.itemText(1) == f"Reward run {run.id} · {figure}"
    page.show_run(run.id)
    qtbot.waitUntil(lambda: page.rm_report.report is not None, timeout=10_000)
    assert page.rm_report.summary.text().startswith(f"Run {run.id}: <b>{figure}</b> · ECE")
    page.grab().save("/tmp/reward_health.png")


def test_a_reward_run_without_its_reach_says_so_in_the_reward_box(qtbot, ctx):
    """A reward run trained before the studio saved the labels' reach leaves stay_in_reach nothing to hold to: the
    reward-model box says so, and stops saying it once the run's folder has its reach."""
    run_id = ctx.store.create_run("reward", {})
    ctx.store.update_run(run_id, status="finished")
    page = make_page(qtbot, ctx)
    page.set_kind("ppo")
    page.refresh()
    assert page.reward_combo.itemText(1) == f"Reward run {run_id} · no reach saved: retrain it for stay_in_reach"
    Reach(min_words=3, max_nonwords=0.0, loops=False, floor=-1.0).save(ctx.project.run_dir(run_id))
    page.refresh()
    assert page.reward_combo.itemText(1) == f"Reward run {run_id}"
