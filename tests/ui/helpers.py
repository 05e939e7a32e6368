"""Shared helpers for the page tests."""


def show(qtbot, widget):
    """Register, show and activate `widget` so that its keyboard shortcuts work."""
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    return widget


def run_alone(module, check: str, tmp_path) -> None:
    """Run test `check` of `module` with pytest in a fresh process (one that restyles the whole application must
    not touch the suite's shared QApplication); fail with its output unless it passed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run"),
               f"{Path(module.__file__).relative_to(root)}::{check}"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, f"{check} failed in its own process:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    assert "1 passed" in result.stdout
