"""What every page shares: the open project, the model host, the annotator, and running jobs."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from studio.core.project import Project
from studio.workers.job import Job, JobContext, ModelHost


class StudioContext(QObject):
    """Shared state of one open project. Pages read the store on the GUI thread only for small queries."""

    data_changed = Signal()          # demos, comparisons, rankings or runs changed: refresh counters
    model_changed = Signal(dict)     # model info after a (re)load: name, device, params, memory_mb
    error = Signal(str)              # readable message for the window's status bar / dialog
    busy = Signal(str)               # names the job just made by `run` when it was given no title
    job_started = Signal(object)     # a Job just made by `run` (the window shows its messages and progress)
    idle = Signal()                  # the last job ended

    def __init__(self, project_root: str | Path, annotator: str = "me", device: str = "auto",
                 parent: QObject | None = None):
        super().__init__(parent)
        self.project = Project.open(project_root)
        self.host = ModelHost(self.project.root, device=device)
        self.annotator = annotator
        self.jobs: list[Job] = []
        self.busy.connect(self._title_newest)

    @property
    def store(self):
        """The GUI thread's store connection."""
        return self.project.store

    def run(self, fn: Callable[[JobContext], object], needs_model: bool = True, title: str = "",
            own_errors: bool = False) -> Job:
        """Make a job for `fn` (call its `start()`); `title` names it in the window. Its error reaches `error`,
        unless the caller shows it itself (`own_errors`), so that it is shown once, where it happened."""
        job = Job(fn, self.project.root, self.host if needs_model else None, parent=self, title=title)
        if not own_errors:
            job.failed.connect(self.error.emit)
        job.finished.connect(lambda _=None: self._forget(job))
        job.failed.connect(lambda _=None: self._forget(job))
        job.cancelled.connect(lambda: self._forget(job))
        self.jobs.append(job)
        self.job_started.emit(job)
        return job

    def running(self) -> list[Job]:
        return [j for j in self.jobs if j.running]

    def stop_all(self) -> None:
        """Ask every job to stop, without waiting; `idle` fires when the last one has ended."""
        for job in self.jobs:
            job.cancel()

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Cancel every job and wait for them (blocks: for tests and for switching projects when idle)."""
        self.stop_all()
        for job in self.jobs:
            if job.running:
                job.wait(timeout_s)
        self.host.unload()
        self.project.close()

    def _forget(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self.data_changed.emit()
        if not self.running():
            self.idle.emit()

    def _title_newest(self, text: str) -> None:
        untitled = [job for job in self.jobs if not job.title]
        if untitled and text:
            untitled[-1].title = text.rstrip("…")
