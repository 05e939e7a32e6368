"""Runs each check of `theme_checks.py` in a fresh process of its own.

A check restyles the whole application (style, palette, style sheet, font). Putting the suite's shared
QApplication back afterwards (setStyle, then setStyleSheet("")) segfaulted Qt 6.11 inside a full tests/ui run,
in QApplication::setStyleSheet's pass over every widget, on a widget of an earlier test whose memory was
already freed; so no check restyles that application: each runs alone and its process ends with it.
"""
import pytest

from tests.ui import theme_checks
from tests.ui.helpers import run_alone

CHECKS = sorted(name for name in dir(theme_checks) if name.startswith("test_"))


@pytest.mark.parametrize("check", CHECKS)
def test_theme_check_in_its_own_process(check, tmp_path):
    run_alone(theme_checks, check, tmp_path)


CHARTS_LATER = """
import sys
from PySide6.QtWidgets import QApplication
import studio.ui.app, studio.ui.main_window
from studio.ui.theme import Appearance
assert "pyqtgraph" not in sys.modules, "the window's modules imported pyqtgraph"
app = QApplication([])
appearance = Appearance()
appearance.theme = "dark"
appearance.apply(app)
from studio.ui.plots import LivePlot
plot = LivePlot("loss", ["loss"])
print(plot.backgroundBrush().color().lightness(), plot.getPlotItem().getAxis("left").pen().color().lightness())
"""


def test_the_window_starts_without_pyqtgraph_and_later_charts_take_the_theme(tmp_path):
    """The charts' library is imported with the first page that has charts; those charts are dark in the dark theme
    applied before it was imported."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STUDIO_CONFIG_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", CHARTS_LATER], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    background, axis = map(int, result.stdout.split())
    assert background < 60 and axis > 180  # dark background, light axes
