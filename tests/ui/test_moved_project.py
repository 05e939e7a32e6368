"""A project folder copied elsewhere, its original deleted: the Compare page still uses its runs."""
import shutil

from studio.core.project import Project
from studio.ui.compare_page import ComparePage
from studio.ui.context import StudioContext
from tests.ui.helpers import show
from tests.ui.seed import seed_data, seed_runs


def test_compare_works_in_a_copied_project_whose_original_is_gone(qtbot, project_dir, tmp_path):
    project = Project.open(project_dir)
    seed_data(project.store)
    project.close()
    runs = seed_runs(project_dir)
    moved = tmp_path / "moved" / "copy"
    shutil.copytree(project_dir, moved)
    shutil.rmtree(project_dir)
    ctx = StudioContext(moved, annotator="tester")
    try:
        page = show(qtbot, ComparePage(ctx))
        page.set_checked(["base", str(runs["sft"])])
        page.reward.setCurrentIndex(page.reward.findData(str(runs["reward"])))
        page.max_tokens.setValue(4)
        page.prompt.setPlainText("describe tea")
        page.compare()
        qtbot.waitUntil(lambda: page.job is None, timeout=120_000)
        assert [pane.title() for pane in page.panes] == ["Base model", f"SFT run {runs['sft']}"]
        assert all(pane.score.text().startswith("Reward: ") for pane in page.panes), page.status.text()
    finally:
        ctx.shutdown()
