"""The window's one job indicator: which jobs run, how far they are, and which wait for the model.

Shown in the status bar on every page. It reads each job's own state (`Job.state`, `title`,
`last_progress`, `last_message`), so a page that starts a job only has to give it a title.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from studio.workers.job import Job


def describe(job: Job, waiting: bool = True) -> str:
    """One job in a few words: "Training SFT: 3 of 50", "Training SFT: 50 of 50 · Saving…",
    "Generating answers (waiting for the model)"; a queued job with nothing ahead (`waiting` false) is only
    starting: "Loading the model…"."""
    title = job.title or "Working"
    if job.state == "queued":
        return f"{title} (waiting for the model)" if waiting else f"{title}…"
    parts = [title]
    if job.last_progress is not None:
        parts.append(f"{job.last_progress[0]} of {job.last_progress[1]}")
    if job.last_message:
        parts.append(job.last_message)
    return ": ".join(parts[:2]) + "".join(f" · {part}" for part in parts[2:])


class ElidedLabel(QLabel):
    """One line that shows as much of its text as fits, ending in "…", so that a long job message never widens the
    window; `text()` is the whole text (the indicator's tooltip shows it too)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setProperty("elided", True)  # the window-fit checks leave labels elided by design alone
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, self.width()))


class JobIndicator(QWidget):
    """The running job(s) with their progress, then what is queued; hidden when nothing runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = ElidedLabel()
        self.progress = QProgressBar(maximumWidth=180, textVisible=False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.progress)
        self.jobs: list[Job] = []
        self.hide()

    def track(self, job: Job) -> None:
        """Follow `job` until it ends."""
        self.jobs.append(job)
        for signal in (job.queued, job.began, job.progress, job.message):
            signal.connect(self.update_text)
        job.ended.connect(self._drop_ended)  # a method, not a lambda: Qt drops it with the indicator
        self.update_text()

    def _drop_ended(self) -> None:
        self.jobs = [job for job in self.jobs if job.state != "ended"]
        self.update_text()

    def update_text(self, *_args) -> None:
        """Redraw from the jobs' states (connected to their signals; arguments are ignored)."""
        live = [job for job in self.jobs if job.state in ("queued", "running")]
        running = [job for job in live if job.state == "running"]
        queued = [job for job in live if job.state == "queued"]
        parts = [describe(job) for job in running]
        if queued and running:
            parts.append("queued: " + ", ".join(job.title or "Working" for job in queued))
        else:  # nothing ahead of them: they are starting, not waiting
            parts += [describe(job, waiting=False) for job in queued]
        self.label.setText(" · ".join(parts))
        self.setToolTip("\n".join(describe(job, waiting=bool(running)) for job in live))
        first = next((job.last_progress for job in running if job.last_progress), None)
        if first is None:
            self.progress.setRange(0, 0)  # busy, no known end
        else:
            self.progress.setRange(0, max(first[1], 1))
            self.progress.setValue(first[0])
        self.setVisible(bool(live))
