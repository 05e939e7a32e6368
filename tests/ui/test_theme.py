"""Runs each check of `theme_checks.py` in a fresh process of its own.

A check restyles the whole application (style, palette, style sheet, font). Putting the suite's shared
QApplication back afterwards (setStyle, then setStyleSheet("")) segfaulted Qt 6.11 inside a full tests/ui run,
in QApplication::setStyleSheet's pass over every widget, on a widget of an earlier test whose memory was
already freed; so no check restyles that application: each runs alone and its process ends with it.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui import theme_checks

ROOT = Path(__file__).resolve().parents[2]
CHECKS = sorted(name for name in dir(theme_checks) if name.startswith("test_"))


@pytest.mark.parametrize("check", CHECKS)
def test_theme_check_in_its_own_process(check, tmp_path):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run"),
               f"{Path(theme_checks.__file__).relative_to(ROOT)}::{check}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, f"{check} failed in its own process:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    assert "1 passed" in result.stdout
