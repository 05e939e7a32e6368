import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from studio.core import active, packs
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.ui.guidelines import GuidelinesPanel
from studio.ui.pack_window import open_pack_window
from tests.ui.helpers import show
from tests.ui.test_rank_page import press

ROOT = Path(__file__).resolve().parents[2]


def _pack(tmp_path) -> Path:
    project = Project.init(tmp_path / "home")
    store = project.store
    for i in range(3):
        p = store.add_prompt(f"prompt {i}")
        store.add_comparison(p, [store.add_response(p, f"answer {i}.{j}", "base") for j in range(2)])
    store.add_response(store.add_prompt("prompt 3"), "an answer to rate", "base")
    active.set_guidelines(store, "Prefer **short** answers.")
    path = tmp_path / "todo.pack"
    assert packs.export_pack(store, path) == packs.Packed(3, 1)
    project.close()
    return path


def test_every_decision_lands_in_the_pack_at_once(qtbot, tmp_path):
    path = _pack(tmp_path)
    window = open_pack_window(path, "ann", lambda text: None)
    page = show(qtbot, window.rank_page)
    assert page.comparison.prompt == "prompt 0"
    assert "Prefer short answers." in window.findChild(GuidelinesPanel).view.toPlainText()
    assert not page.findChild(type(page.k_spin)).isVisibleTo(page)  # no generation without a model
    buttons = {b.text(): b.isVisibleTo(page) for b in page.panes[0].findChildren(QPushButton)}
    assert buttons == {"Pick (1)": True, "Make this a demonstration…": False}
    press(qtbot, page, "2")
    with packs.open_pack(path) as other:  # another connection sees it: committed
        [ranking] = other.rankings()
        assert (ranking.annotator, ranking.order) == ("ann", [[1], [0]])
    window.close()


def test_a_bad_pack_is_reported_in_one_line(tmp_path):
    bad = tmp_path / "bad.pack"
    bad.write_bytes(b"not a database at all" * 100)
    errors = []
    assert open_pack_window(bad, "ann", errors.append) is None
    assert len(errors) == 1 and "damaged" in errors[0] and "\n" not in errors[0]


def test_the_pack_window_never_imports_torch_or_the_workers(tmp_path):
    path = _pack(tmp_path)
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\nimport studio.ui.app\n"
            "from studio.ui.pack_window import open_pack_window\napp = QApplication([])\n"
            f"w = open_pack_window({str(path)!r}, 'ann', print)\napp.processEvents()\n"
            "w.rank_page.pick(0)\nw.rate_page.rate(True)\n"
            "print('visible', w.isVisible(), 'torch', 'torch' in sys.modules, 'superqt', 'superqt' in sys.modules)\n"
            "w.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert "visible True torch False superqt False" in out.stdout, out.stderr
    with packs.open_pack(path) as pack:
        assert len(pack.rankings()) == 1 and len(Ratings(pack).list()) == 1


def _rated(path) -> list[tuple[str, bool, str]]:
    with packs.open_pack(path) as other:  # another connection sees it: committed
        return [(Ratings(other).item(r.response_id).response, r.label, r.annotator) for r in Ratings(other).list()]


def test_ratings_made_with_the_keys_land_in_the_pack_and_are_there_on_reopening(qtbot, tmp_path):
    path = _pack(tmp_path)
    window = show(qtbot, open_pack_window(path, "ann", lambda text: None))
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Rank", "Rate"]
    qtbot.keyClick(window.windowHandle(), "3", Qt.KeyboardModifier.ControlModifier)  # Go > Rate, as in the main window
    page = window.rate_page
    assert window.tabs.currentWidget() is page
    assert (page.prompt_view.toPlainText(), page.answer_view.toPlainText()) == ("prompt 0", "answer 0.0")
    visible = {b.text(): b.isVisibleTo(page) for b in page.findChildren(QPushButton)}
    assert not visible["Import…"] and not visible["Export…"] and not visible["Make this a demonstration…"]
    qtbot.keyClick(window.windowHandle(), "J")
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_Down)
    assert _rated(path) == [("answer 0.0", True, "ann"), ("answer 0.1", False, "ann")]
    qtbot.keyClick(window.windowHandle(), "Z", Qt.KeyboardModifier.ControlModifier)
    assert _rated(path) == [("answer 0.0", True, "ann")]
    qtbot.keyClick(window.windowHandle(), "K")
    window.close()

    again = show(qtbot, open_pack_window(path, "ann", lambda text: None))
    assert _rated(path) == [("answer 0.0", True, "ann"), ("answer 0.1", False, "ann")]
    assert again.rate_page.answer_view.toPlainText() == "answer 1.0"  # the next one "ann" has not rated
    assert "Rated: <b>2</b>" in again.rate_page.counters.text() and "Left: <b>5</b>" in again.rate_page.counters.text()
    qtbot.keyClick(again.windowHandle(), "2", Qt.KeyboardModifier.ControlModifier)
    assert again.tabs.currentWidget() is again.rank_page and again.rank_page.comparison.prompt == "prompt 0"
    again.close()
