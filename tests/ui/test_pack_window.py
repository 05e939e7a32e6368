import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QPushButton

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


def test_a_pack_asks_its_labellers_name_remembers_it_and_its_labels_merge_back_under_it(qtbot, tmp_path,
                                                                                         monkeypatch):
    path = _pack(tmp_path)
    offered, answers = [], iter([("  ", True), ("Ana", True), ("", False)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, text="", **_k: (offered.append(text), next(answers))[1])
    window = show(qtbot, open_pack_window(path, None, lambda text: None))
    assert offered == ["", "  "] and window.ctx.annotator == "Ana"  # a blank name is asked again
    press(qtbot, window.rank_page, "2")
    window.close()
    project = Project.open(tmp_path / "home")
    assert packs.import_pack(project.store, path).rankings == 1
    assert [r.annotator for r in project.store.rankings()] == ["Ana"]  # not the owner's own "me"
    project.close()
    assert open_pack_window(path, None, lambda text: None) is None  # cancelled: no window
    assert offered[-1] == "Ana"  # this pack's name is offered again


def test_an_emptied_pack_says_what_to_do_next_not_how_to_generate(qtbot, tmp_path):
    path = _pack(tmp_path)
    window = show(qtbot, open_pack_window(path, "ann", lambda text: None))
    for key in ("2", "1", "2"):
        press(qtbot, window.rank_page, key)
    text = window.rank_page.empty.text()
    assert text.startswith("Nothing left to rank in this pack.") and "send the file back" in text
    assert "prompts" not in text and "generated" not in text
    window.grab().save("/tmp/pack_empty.png")
    window.tabs.setCurrentWidget(window.rate_page)
    for key in ("J", "K", "J", "J", "K", "J", "J"):
        qtbot.keyClick(window.windowHandle(), key)
    assert window.rate_page.empty.text().startswith("Nothing left to rate in this pack.")
    assert "send the file back" in window.rate_page.empty.text()
    window.close()


def test_file_export_labelling_pack_asks_the_cli_options_and_writes_the_pack_in_a_job(qtbot, ctx, tmp_path,
                                                                                      monkeypatch):
    from PySide6.QtWidgets import QDialog, QDialogButtonBox

    from studio.ui.main_window import MainWindow
    from studio.ui.pack_window import PackExportDialog

    store = ctx.store
    for i in range(3):
        p = store.add_prompt(f"prompt {i}")
        store.add_comparison(p, [store.add_response(p, f"answer {i}.{j}", "base") for j in range(2)])
    store.add_response(store.add_prompt("prompt 3"), "an answer to rate", "base")
    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: not ctx.running(), timeout=60_000)  # the model has loaded
    out = tmp_path / "two.pack"
    seen = {}

    def fill_in(dialog: PackExportDialog) -> int:
        """A person's choices in the real dialog: 2 of the 3 comparisons, no extra answers, a file."""
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        seen.update(count=dialog.count.text(), answers=dialog.answers.text(), ok_without_file=ok.isEnabled())
        dialog.count.setValue(2)
        dialog.answers.setValue(0)
        dialog.out.setText(str(out))
        dialog.resize(520, dialog.sizeHint().height())
        dialog.grab().save("/tmp/pack_export_dialog.png")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(PackExportDialog, "exec", fill_in)
    [action] = [a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Export labelling pack…"]
    action.trigger()
    assert seen == {"count": "3 of 3 unranked", "answers": "1 of 1 unrated", "ok_without_file": False}
    [job] = [j for j in ctx.jobs if j.title == "Exporting a labelling pack"]
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    assert window.statusBar().currentMessage().startswith(f"Packed 2 comparisons and 0 more answers to rate into {out}")
    with packs.open_pack(out) as pack:
        assert [c.prompt for c in pack.comparisons()] == ["prompt 0", "prompt 1"] and len(Ratings(pack).list()) == 0
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: ("Bo", True))
    window.open_pack(str(out))  # File > Open labelling pack asks the labeller's name, not the owner's
    assert window.pack_window.ctx.annotator == "Bo" and window.ctx.annotator == "tester"
    window.pack_window.close()


def test_main_py_pack_asks_the_name_unless_annotator_gives_it(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from studio.ui.app import parse_args, run_pack

    path = _pack(tmp_path)
    asked = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: (asked.append(1), ("", False))[1])
    monkeypatch.setattr(QApplication, "exec", lambda *_a: 7)  # a window that opened would be run: never here
    assert run_pack(QApplication.instance(), parse_args(["--pack", str(path)])) == 0  # cancelled: quits quietly
    assert asked == [1] and parse_args(["--pack", str(path), "--annotator", "Di"]).annotator == "Di"
