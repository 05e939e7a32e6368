import pytest
from PySide6.QtCore import Qt

from studio.ui.compare_page import ComparePage
from tests.ui.helpers import show
from tests.ui.seed import seed_data, seed_runs


@pytest.fixture
def trained_ctx(ctx):
    seed_data(ctx.store)
    seed_runs(ctx.project.root)
    return ctx


def test_compare_streams_one_pane_per_policy_with_scores(qtbot, trained_ctx):
    ctx = trained_ctx
    page = show(qtbot, ComparePage(ctx))
    sft = ctx.store.runs("sft")[-1]
    reward = ctx.store.runs("reward")[-1]
    policies = [page.policies.item(i).data(Qt.ItemDataRole.UserRole) for i in range(page.policies.count())]
    assert policies == ["base", str(sft.id)]  # the reward model is not a policy
    assert page.checked() == ["base", str(sft.id)]  # the latest run of each kind is ticked at the start
    assert page.reward.currentData() == str(reward.id)  # and the latest reward model chosen
    page.max_tokens.setValue(8)
    page.prompt.setPlainText("tell me about cats")

    pieces: list[str] = []
    qtbot.keyClick(page.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(page.panes) == 2 and page.job is not None
    page.job.partial.connect(pieces.append)
    qtbot.waitUntil(lambda: page.job is None, timeout=120_000)

    assert pieces, "no streamed text arrived"
    assert [pane.title() for pane in page.panes] == ["Base model", f"SFT run {sft.id}"]
    assert pieces and "".join(pieces).strip() == page.panes[0].text.toPlainText()
    for pane in page.panes:
        assert pane.score.text().startswith("Reward: ")
    assert page.compare_button.isEnabled()


def test_compare_needs_a_prompt(qtbot, ctx):
    page = ComparePage(ctx)
    qtbot.addWidget(page)
    page.compare()
    assert page.job is None and "prompt" in page.status.text()


def test_policies_listed_base_then_sft_then_aligned_and_four_panes_fit_1280(qtbot, ctx):
    ids = {}
    for kind in ("sft", "dpo", "sft", "ppo"):
        run_id = ctx.store.create_run(kind, {})
        ctx.store.update_run(run_id, status="finished")
        ids.setdefault(kind, []).append(str(run_id))
    page = ComparePage(ctx)
    qtbot.addWidget(page)
    page.resize(1280 - 16, 760)  # the page inside a 1280 px window
    page.show()
    qtbot.waitExposed(page)
    policies = [page.policies.item(i).data(Qt.ItemDataRole.UserRole) for i in range(page.policies.count())]
    assert policies == ["base", *ids["sft"], *ids["dpo"], *ids["ppo"]]
    page.set_checked(policies[:4])
    page.prompt.setPlainText("hello")
    page.compare()
    page.stop()
    qtbot.waitUntil(lambda: page.job is None, timeout=60_000)
    assert len(page.panes) == 4
    viewport = page.panes[0].parentWidget().parentWidget()
    right_edge = page.panes[-1].mapTo(viewport, page.panes[-1].rect().topRight()).x()
    assert right_edge <= viewport.width(), "the 4th answer pane is cut off"


def test_starts_with_the_latest_run_of_each_kind_and_the_latest_reward_model(qtbot, ctx):
    ids = {}
    for kind in ("sft", "reward", "dpo", "sft", "reward", "ppo", "ppo"):
        run_id = ctx.store.create_run(kind, {})
        ctx.store.update_run(run_id, status="failed" if len(ids.get("ppo", [])) == 1 else "finished")
        ids.setdefault(kind, []).append(str(run_id))
    page = show(qtbot, ComparePage(ctx))
    assert page.checked() == ["base", ids["sft"][1], ids["dpo"][0], ids["ppo"][0]]  # the last PPO run failed
    latest = ids["reward"][1]
    assert page.reward.currentData() == latest and page.reward.currentText() == f"REWARD run {latest}"
    page.set_checked(["base"])
    page.reward.setCurrentIndex(0)
    page.reward.activated.emit(0)  # a person chose "No reward model": a refresh keeps both choices
    ctx.data_changed.emit()
    assert page.checked() == ["base"] and page.reward.currentData() is None
    page.grab().save("/tmp/compare.png")
