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
    assert page.checked() == ["base"]
    page.set_checked(["base", str(sft.id)])
    page.reward.setCurrentIndex(page.reward.findData(str(reward.id)))
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
