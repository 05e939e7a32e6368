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
