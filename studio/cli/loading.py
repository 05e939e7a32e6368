"""What every command that loads the model shares: the runs it names checked first (a wrong one costs no
waiting), the base opened with its progress on stderr, and a progress bar for the work."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from studio.core.answer_length import default_answer_tokens
from studio.core.project import Project
from studio.core.run_kinds import REWARD

TOKENS_HELP = (f"longest answer in tokens (default: {default_answer_tokens('cpu')} on a CPU, "
               f"{default_answer_tokens('mps')} on Apple MPS, {default_answer_tokens('cuda')} on CUDA)")


def say(line: str) -> None:
    """A progress line on stderr (stdout holds the command's result)."""
    print(line, file=sys.stderr)


def open_base(project: Project, device: str, spec: str | None = None):
    """The project's model as a `SharedBase`, or the model `spec` (a folder or GGUF, e.g. a judge) when given and
    `models` finds it usable; torch gets one thread per free core (`core.cpu_threads`)."""
    import torch

    from studio.core.cpu_threads import torch_threads
    from studio.training import runs

    torch.set_num_threads(torch_threads())  # beside a busy program, fewer waits between threads
    if spec is None:
        return runs.open_base(project, device=device, progress=say)
    from studio.training.model_support import model_problem
    from studio.training.models import load_model
    from studio.training.shared_base import SharedBase

    problem = model_problem(spec)
    if problem:
        raise ValueError(f"cannot use {spec} as the judge: {problem}")
    return SharedBase.from_loaded(load_model(spec, device=device, progress=say))


@contextlib.contextmanager
def bar_hooks(desc: str, unit: str = "step") -> Iterator:
    """Hooks that drive a tqdm progress bar on stderr and show the latest metrics; closed on the way out,
    so an error prints on its own line."""
    from tqdm import tqdm

    from studio.training.engine import Hooks

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def progress(step: int, total: int) -> None:
        bar.total = total
        bar.n = step
        bar.refresh()

    def metrics(step: int, values: dict[str, float]) -> None:
        keys = [k for k in ("loss", "reward", "kl", "accuracy", "eval_accuracy", "reward_accuracy") if k in values]
        bar.set_postfix({k: f"{values[k]:.3g}" for k in keys}, refresh=False)

    try:
        yield Hooks(on_metrics=metrics, on_progress=progress)
    finally:
        bar.close()


def check_run(project: Project, ref: str, reward: bool) -> None:
    """Resolve a policy ("base" or a run that is not a reward model) or a reward model before the model loads."""
    if ref == "base" and not reward:
        return
    run = project.store.resolve_run(ref)
    if reward and run.kind != REWARD:
        raise ValueError(f"run {run.id} is a {run.kind} run, not a reward model")
    if not reward and run.kind == REWARD:
        raise ValueError(f"run {run.id} is a reward model, not a policy")


def tokens(args) -> dict[str, int]:
    """--max-new-tokens as a sampling setting when given; absent, the device's default applies."""
    return {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
