"""Help > Open the demo project: create it from resources/demo/ (in a job), switch to it, show the tour."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from studio.core.demo import create_demo_project, tour_html
from studio.workers.job import Job


def demo_folder() -> Path:
    """demo/ beside the default project: under $STUDIO_HOME, or ~/AlignmentStudio."""
    return Path(os.environ.get("STUDIO_HOME") or Path.home() / "AlignmentStudio") / "demo"


class TourDialog(QDialog):
    """The one-page guided tour of the demo project (non-modal, so the window stays usable)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, windowTitle="Guided tour of the demo project")
        self.text = QTextBrowser(openExternalLinks=False)
        self.text.setHtml(tour_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 720)


def open_demo(window, folder: Path | None = None) -> Job:
    """Create (or reopen) the demo project off the GUI thread, then switch the window to it and show the tour."""
    folder = folder or demo_folder()

    def create(_ctx) -> str:
        create_demo_project(folder).close()
        return str(folder)

    def switch(root: str) -> None:
        window.switch_project(root)
        if window.ctx.project.root == Path(root):
            window.tour = TourDialog(window)
            window.tour.show()

    job = window.ctx.run(create, needs_model=False)
    job.finished.connect(switch)
    return job.start()
