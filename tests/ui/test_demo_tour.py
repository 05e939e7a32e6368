from studio.core.demo import create_demo_project
from studio.ui.demo_tour import open_demo
from studio.ui.main_window import MainWindow


def test_help_opens_the_demo_project_and_its_tour(qtbot, ctx, tmp_path, tiny_model_dir):
    folder = tmp_path / "demo"
    create_demo_project(folder, model=str(tiny_model_dir)).close()   # the tiny model instead of SmolLM2
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    actions = [a.text() for m in window.menuBar().actions() for a in m.menu().actions()]
    assert "Open the demo project" in actions
    qtbot.waitUntil(lambda: not window.ctx.running(), timeout=60_000)
    with qtbot.waitSignal(open_demo(window, folder).finished, timeout=10_000):
        pass
    assert window.ctx.project.root == folder and window.ctx.store.counts()["demonstrations"] == 8
    assert window.tour.isVisible() and "Rule labeller" in window.tour.text.toPlainText()
    qtbot.waitUntil(lambda: not window.ctx.running(), timeout=60_000)
    window.tour.close()
    assert window.close()
