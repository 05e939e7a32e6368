"""A PPO run says what it is doing on the Train page's status line and in the job indicator, here while a round
samples its answers (issue 10, item 8)."""
import threading

import studio.training.ppo as ppo
from studio.ui.job_indicator import JobIndicator
from tests.ui.seed import seed_data, seed_runs
from tests.ui.test_train_page import TINY_PPO, make_page


def test_the_page_and_the_indicator_show_the_rollout_phase(qtbot, ctx, monkeypatch):
    seed_data(ctx.store)
    seed_runs(ctx.project.root)
    release, calls = threading.Event(), []
    real = ppo.generate_tokens

    def held_second_rollout(*args, **kwargs):
        """The real sampling, then round 2 waits (still in its rollout) until the test has looked."""
        batch = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            release.wait(60)
        return batch

    monkeypatch.setattr(ppo, "generate_tokens", held_second_rollout)
    page = make_page(qtbot, ctx)
    page.set_kind("ppo")
    page.form.set_values(TINY_PPO)
    indicator = JobIndicator()
    qtbot.addWidget(indicator)
    try:
        job = page.start()
        indicator.track(job)
        qtbot.waitUntil(lambda: len(calls) == 2 and "Round 2: sampling" in page.status.text(), timeout=120_000)
        status = page.status.text()
        assert status.startswith("Step 1 of 20 · Round 2: sampling 2 answers, token "), status
        assert "of at most 8…" in status
        assert indicator.label.text().startswith("Training PPO: 1 of 20 · Round 2: sampling 2 answers, token ")
    finally:
        release.set()
    reward = page.board.plot("reward")
    qtbot.waitUntil(lambda: len(reward.series("reward")[0]) >= 2, timeout=60_000)  # round 2 went on
    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        page.stop()
    assert page.status.text().startswith("Stopped")
