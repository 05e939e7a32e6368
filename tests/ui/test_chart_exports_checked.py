"""The charts' Export PNG / Export CSV buttons check the chosen path as every other export does: a save dialog
pointed at the project's studio.db is refused with one line on the page and writes nothing."""
import csv

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from studio.core import oversight_store as ov
from studio.ui.oversight_page import OversightPage
from studio.ui.rm_report_panel import RMReportPanel
from studio.ui.train_page import TrainPage
from tests.ui.test_rm_report_panel import reward_run_with_scores


def choose(monkeypatch, path) -> None:
    """The save dialog answers `path`."""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_args, **_kw: (str(path), ""))


def train_page(qtbot, ctx, errors):
    page = TrainPage(ctx)
    qtbot.addWidget(page)
    errors.append(lambda: page.error.text() if not page.error.isHidden() else "")
    return page, (page.png_button, page.csv_button)


def report_panel(qtbot, ctx, errors):
    run, _ = reward_run_with_scores(ctx)
    panel = RMReportPanel(ctx)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.show_run(run).finished, timeout=10_000):
        pass
    shown = []
    ctx.error.connect(shown.append)  # the panel's export errors go to the window's line, as its jobs' do
    errors.append(lambda: "\n".join(shown))
    return panel, (panel.png_button, panel.csv_button)


def ranked_gold_check(store) -> int:
    """A PPO run with one gold check at round 2, ranked by a person: the gold curve has a point to export."""
    run = store.create_run("ppo", {})
    pid = store.add_prompt("q1")
    comparison = store.add_comparison(pid, [store.add_response(pid, t, "base") for t in ("policy", "start")])
    ov.add_gold_check(store, ov.GoldCheck(comparison, run, 2, 0, 0.8))
    store.add_ranking(comparison, [[0], [1]], "tester")
    return run


def oversight_page(qtbot, ctx, errors):
    ranked_gold_check(ctx.store)
    page = OversightPage(ctx)
    qtbot.addWidget(page)
    errors.append(page.message.text)
    return page, (page.gold_png, page.gold_csv)


@pytest.mark.parametrize("make", [train_page, report_panel, oversight_page])
@pytest.mark.parametrize("which", [0, 1], ids=["png", "csv"])
def test_a_chart_export_onto_studio_db_is_refused_and_writes_nothing(qtbot, ctx, monkeypatch, make, which):
    errors = []
    _page, buttons = make(qtbot, ctx, errors)
    db = ctx.project.root / "studio.db"
    before = db.read_bytes()
    choose(monkeypatch, db)
    assert buttons[which].isEnabled()
    qtbot.mouseClick(buttons[which], Qt.MouseButton.LeftButton)
    assert not ctx.jobs                                              # no export job was started
    qtbot.waitUntil(lambda: not ctx.running(), timeout=10_000)
    assert db.read_bytes() == before
    [error] = errors
    assert error().startswith("refusing to write ") and "inside the project folder" in error()
    assert "\n" not in error()


def test_a_chart_export_outside_the_project_is_written(qtbot, ctx, monkeypatch, tmp_path):
    ranked_gold_check(ctx.store)
    page = OversightPage(ctx)
    qtbot.addWidget(page)
    choose(monkeypatch, tmp_path / "gold.csv")
    qtbot.mouseClick(page.gold_csv, Qt.MouseButton.LeftButton)
    [job] = ctx.jobs
    with qtbot.waitSignal(job.finished, timeout=10_000):
        pass
    assert list(csv.reader((tmp_path / "gold.csv").open()))[1] == ["2", "1", "1.0", "0.8", ""]
