"""The one place engines meet Qt threads.

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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from studio.core import cpu_threads
from studio.core.answer_length import default_answer_tokens
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
        import torch

        torch.set_num_threads(torch_threads())  # per thread (OpenMP): every job's thread sets it
        if self._base is None:
            from studio.training.runs import open_base

            self._base = open_base(project, device=self.device, progress=say)
            model = self._base.base
            params = sum(p.numel() for p in model.parameters())
            memory = sum(p.numel() * p.element_size() for p in model.parameters())
            self.info = {"name": project.model_spec, "device": str(self._base.device),
                         "params": params, "memory_mb": memory / 2**20}
            gc.freeze()
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


# -- what the pages ask for (thin wrappers over studio.training.runs, run inside jobs) -------------------
@dataclass
class FieldSpec:
    """One config field for a form: name, default, type and the plain-language tooltip."""

    name: str
    default: Any
    type: type
    help: str


def config_fields(kind: str) -> list[FieldSpec]:
    """The form fields of run kind `kind`'s config, from its dataclass."""
    from studio.training.configs import config_class

    hints = get_type_hints(config_class(kind))

    def kind_of(f) -> type:  # an unset switch (bool | None, e.g. automatic checkpointing) is still a switch
        return bool if f.default is None and bool in get_args(hints[f.name]) else type(f.default)

    return [FieldSpec(f.name, f.default, kind_of(f), f.metadata.get("help", "")) for f in fields(config_class(kind))]


def load_model_job(ctx: JobContext) -> dict:
    ctx.base()
    return dict(ctx.host.info)


def generate_job(per_prompt: int, policy: str = "base", limit: int | None = None, **sampling) -> Callable:
    """Generate comparisons; `max_new_tokens=None` picks `default_answer_tokens` for the model's device."""
    def run(ctx: JobContext) -> list[int]:
        from studio.training.generation import SamplingConfig
        from studio.training.runs import generate_comparisons

        base = ctx.base()
        if sampling.get("max_new_tokens", 0) is None:
            sampling["max_new_tokens"] = default_answer_tokens(str(base.device))
        return generate_comparisons(ctx.project, base, per_prompt, policy, SamplingConfig(**sampling),
                                    ctx.hooks, limit=limit)
    return run


def train_job(kind: str, values: dict | None = None, resume: int | None = None, init: str | None = None,
              reward: str | None = None, terms: list[str] | None = None) -> Callable:
    def run(ctx: JobContext) -> dict:
        from studio.training.runs import check_data, check_terms, config_class, train

        config = config_class(kind)(**values) if values is not None and resume is None else None
        check_data(ctx.project, kind)  # before ctx.base() loads the model
        check_terms(ctx.project, kind, terms, resume=resume, reward=reward)
        run_id, result = train(ctx.project, ctx.base(), kind, config, ctx.hooks, resume=resume, init=init,
                               reward=reward, terms=terms)
        return {"run_id": run_id, "status": result.status, "step": result.step, "metrics": result.metrics,
                "error": result.error}
    return run


def stream_job(policy: str, prompt: str, reward: str | None = None, **sampling) -> Callable:
    """Stream one answer of `policy` as partial text pieces; returns the text and its reward score."""
    def run(ctx: JobContext) -> dict:
        from studio.training.generation import SamplingConfig, stream
        from studio.training.runs import policy_adapter, reward_scorer

        base = ctx.base()
        pieces = []
        with base.use(policy_adapter(ctx.project, base, policy)) as model:
            for piece in stream(model, base.tokenizer, prompt, SamplingConfig(**sampling), ctx.job.stop_requested):
                pieces.append(piece)
                ctx.emit(piece)
        text = "".join(pieces).strip()
        score = None
        if reward:
            score = float(reward_scorer(ctx.project, base, reward).normalised([prompt], [text])[0])
        return {"policy": policy, "text": text, "reward": score}
    return run


def export_job(run: str, out_dir: Path, merged: bool) -> Callable:
    def run_(ctx: JobContext) -> str:
        from studio.training.runs import export_run

        ctx.say("Exporting…")
        return str(export_run(ctx.project, run, Path(out_dir), merged=merged, force=True))  # picked by the user
    return run_


def gguf_export_job(run: str, out: Path, qtype: str) -> Callable:
    """Merge a run and write it as GGUF with an Ollama Modelfile; the converter's lines stream as messages."""
    def run_(ctx: JobContext) -> str:
        from studio.training.gguf_export import export_gguf

        return str(export_gguf(ctx.project, run, Path(out), qtype, progress=ctx.say, force=True))  # the dialog asked
    return run_


def find_models_job() -> Callable:
    """Scan the HF cache, LM Studio, Ollama and recent projects for models (a list of summaries)."""
    def run_(ctx: JobContext) -> list[dict]:
        from studio.training.model_support import local_models
        from studio.ui.recent import recent_projects

        return local_models(recent_projects())
    return run_


def pack_export_job(out: str, count: int | None, answers: int | None, order: str) -> Callable:
    """Write a labelling pack as `studio pack export` does; with `order` "uncertain", the latest reward model first
    guesses the comparisons it has not guessed yet (run it with the model)."""
    def run_(ctx: JobContext) -> str:
        from studio.core import active, packs

        store = ctx.project.store
        reward = active.latest_reward_run(store)
        if order == "uncertain" and reward is not None and active.unscored(store, reward):
            from studio.training.uncertainty import score_unranked

            ctx.say("The reward model guesses the comparisons it has not seen…")
            score_unranked(ctx.project, ctx.base())
        packed = packs.export_pack(store, ctx.project.check_output(out), count=count, order=order, answers=answers)
        return (f"Packed {packed.comparisons} comparisons and {packed.answers} more answers to rate into {out}: "
                f"send it to a labeller, then merge it back with “pack import”.")
    return run_
