"""Jobs and the model host: where engines meet Qt threads.

A `Job` runs a plain function off the GUI thread (superqt's `create_worker`), hands it a `JobContext`
whose `hooks` turn engine callbacks into Qt signals (queued to the GUI thread), and whose cancel flag
the engines poll (the Orange3 pattern: the engine only ever sees plain callbacks). One `ModelHost`
owns the single base model; jobs that touch it are serialised by its lock, so a generation request
simply waits while training holds the model. Each job opens its own `Project` (sqlite connections
belong to the thread that made them).
"""
from __future__ import annotations

import gc
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from studio.core import collection, cpu_threads
from studio.core.project import Project


GIL_SWITCH_S = 0.001  # Python's default is 5 ms


class ModelHost:
    """Holds the one base model in memory, loaded lazily in a worker thread, and the lock that guards it.

    A job's Python work (PEFT's module walks, checkpoint pickling, generation's per-token loop) shares the GIL
    with the GUI thread, so the host sets the process up for a GUI (bench/gui_responsiveness.py, RESULTS.md
    section 17): a thread holding the GIL hands it over after `GIL_SWITCH_S` when another waits, and once the
    model is loaded every object then alive (the libraries, the model, the tokenizer: ~450k) is frozen out of
    the garbage collector, whose full collections otherwise walk them all with the GIL held (0.3-1.5 s)
    every few training steps. `unload` thaws them, so that a dropped model can be collected.
    """

    def __init__(self, project_root: Path, device: str = "auto"):
        self.project_root = Path(project_root)
        self.device = device
        self.lock = threading.Lock()
        self._base = None
        self.info: dict[str, Any] = {}
        sys.setswitchinterval(GIL_SWITCH_S)

    @property
    def loaded(self) -> bool:
        return self._base is not None

    def base(self, project: Project, say: Callable[[str], None]):
        """The shared base (loaded on first use; call with `lock` held)."""
        try:
            import torch

            torch.set_num_threads(torch_threads())  # per thread (OpenMP): every job's thread sets it
            if self._base is None:  # not `runs`, which imports every engine: the job that needs one imports it
                from studio.training.shared_base import open_base

                self._base = open_base(project, device=self.device, progress=say)
                model = self._base.base
                params = sum(p.numel() for p in model.parameters())
                memory = sum(p.numel() * p.element_size() for p in model.parameters())
                self.info = {"name": project.model_spec, "device": str(self._base.device),
                             "params": params, "memory_mb": memory / 2**20}
                gc.freeze()  # the model and all start-up made: out of every later collection's walk
        finally:
            collection.resume()  # the window paused collection for its start (`core.collection`)
        return self._base

    def unload(self) -> None:
        self._base = None
        self.info = {}
        gc.unfreeze()


def torch_threads() -> int:
    """Torch's threads in the GUI process: one per free core but one, which the GUI thread keeps, so that a
    training step never starves it (bench/gui_responsiveness.py); see `core.cpu_threads`."""
    return cpu_threads.torch_threads(reserve=1)


class JobContext:
    """What a job function receives: its own project connection, hooks wired to signals, the model."""

    def __init__(self, job: Job, host: ModelHost | None, project_root: Path):
        from studio.training.engine import Hooks

        self.job = job
        self.host = host
        self.project = Project.open(project_root)
        self.hooks = Hooks(on_metrics=job.metrics.emit, should_stop=job.stop_requested,
                           on_samples=job.samples.emit, on_progress=job.progress.emit, on_message=job.message.emit)

    def say(self, text: str) -> None:
        self.job.message.emit(text)

    def emit(self, value: object) -> None:
        """Send a partial result (e.g. streamed text) to the GUI thread."""
        self.job.partial.emit(value)

    def base(self):
        return self.host.base(self.project, self.say)


class Job(QObject):
    """A background job; connect to its signals, then `start()`. `cancel()` asks it to stop.

    `state` is "new", then "queued" (waiting for the model another job holds), "running", "ended";
    `title`, `state`, `last_progress` and `last_message` are what the window's job indicator shows.
    """

    queued = Signal()         # `start()` was called: waiting for a thread (and the model)
    began = Signal()          # the function started (a model job: once it holds the model)
    ended = Signal()          # after finished, failed or cancelled
    metrics = Signal(int, dict)
    samples = Signal(int, list)
    progress = Signal(int, int)
    message = Signal(str)
    partial = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[[JobContext], Any], project_root: Path, host: ModelHost | None = None,
                 parent: QObject | None = None, title: str = ""):
        super().__init__(parent)
        self._fn, self._root, self._host = fn, Path(project_root), host
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._worker = None
        self._started = False
        self.title = title
        self.state = "new"
        self.last_progress: tuple[int, int] | None = None
        self.last_message = ""
        self.began.connect(lambda: setattr(self, "state", "running"))
        self.progress.connect(self._note_progress)
        self.message.connect(lambda text: setattr(self, "last_message", text))

    def _note_progress(self, done: int, total: int) -> None:
        self.last_progress, self.last_message = (done, total), ""  # a message after it says what follows

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        """Started and its function has not returned yet (true to the thread, not to delivered signals)."""
        return self._started and not self._ended.is_set()

    def start(self) -> Job:
        self._started = True
        self.state = "queued"
        self.queued.emit()
        self._worker = create_worker(self._run, _start_thread=False)
        self._worker.returned.connect(self._done)
        self._worker.start()
        return self

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Block until the job ends (only for shutdown and tests)."""
        return self._ended.wait(timeout_s)

    def _run(self) -> tuple[str, Any]:
        try:
            ctx = JobContext(self, self._host, self._root)
            try:
                if self._host is None:
                    self.began.emit()
                    result = self._fn(ctx)
                else:
                    with self._host.lock:
                        self.began.emit()
                        result = self._fn(ctx)
            finally:
                ctx.project.close()
            return ("cancelled", None) if self._stop.is_set() else ("ok", result)
        except Exception as exc:  # every failure reaches the window as a readable message
            traceback.print_exc()
            return "error", readable_error(exc)
        finally:
            self._ended.set()

    def _done(self, outcome: tuple[str, Any]) -> None:
        self.state = "ended"
        kind, value = outcome
        if kind == "ok":
            self.finished.emit(value)
        elif kind == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(value)
        self.ended.emit()


def readable_error(exc: BaseException) -> str:
    """One line a person can act on."""
    name = type(exc).__name__
    if name == "OutOfMemoryError":
        return "Out of memory: lower the batch size, the response length or the LoRA rank, and try again."
    text = str(exc).strip() or name
    return text if name in ("ValueError", "LookupError", "ModelLoadError", "ProjectError", "StoreError",
                            "JsonlError", "FileNotFoundError") else f"{name}: {text}"
