import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QPushButton

from studio.core import active, packs
from studio.core.project import Project
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
    active.set_guidelines(store, "Prefer **short** answers.")
    path = tmp_path / "todo.pack"
    packs.export_pack(store, path)
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


def test_the_pack_window_never_imports_torch(tmp_path):
    path = _pack(tmp_path)
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\nimport studio.ui.app\n"
            "from studio.ui.pack_window import open_pack_window\napp = QApplication([])\n"
            f"w = open_pack_window({str(path)!r}, 'ann', print)\napp.processEvents()\n"
            "w.rank_page.pick(0)\nprint('visible', w.isVisible(), 'torch', 'torch' in sys.modules)\nw.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert "visible True torch False" in out.stdout, out.stderr
    with packs.open_pack(path) as pack:
        assert len(pack.rankings()) == 1
