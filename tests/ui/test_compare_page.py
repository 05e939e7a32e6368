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
