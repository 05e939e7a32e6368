"""A project on a read-only folder opens in the window with a banner; a ranking there is refused in one line."""
import json
import subprocess
import sys

from tests.kill_harness import ROOT, child_env
from tests.test_one_line_errors import read_only_prefix

WINDOW = """
import json, sys
from PySide6.QtWidgets import QApplication
from studio.ui.context import StudioContext
from studio.ui.main_window import PAGES, MainWindow
app = QApplication([])
window = MainWindow(StudioContext(sys.argv[1], annotator="tester", device="cpu"))
window.show()
window.tabs.setCurrentIndex(PAGES.index("Rank"))
page = window.rank_page
page.pick(0)
print(json.dumps({"read_only": window.ctx.project.read_only, "banner": window.read_only_banner.isVisible(),
                  "text": window.read_only_banner.text(), "message": page.message.text()}))
window.close()
"""


def test_a_read_only_project_opens_with_a_banner_and_refuses_a_ranking(project):
    before = (project / "studio.db").read_bytes()
    result = subprocess.run([*read_only_prefix(project), sys.executable, "-c", WINDOW, str(project)], cwd=ROOT,
                            env={**child_env(), "QT_QPA_PLATFORM": "offscreen"}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["read_only"] and shown["banner"] and "Read-only" in shown["text"]
    assert shown["message"].startswith("Not saved:") and "read-only" in shown["message"]
    assert (project / "studio.db").read_bytes() == before
