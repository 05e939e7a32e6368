"""The contract every engine follows (hooks in, result out) and the loop SFT, reward and DPO share.

Engines only ever see plain callbacks (the Orange3 pattern): the GUI's worker and the CLI's
progress bar plug in here, and nothing in `studio.training` knows about Qt.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import inspect
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from studio.core.model_finder import machine_memory
from studio.training.checkpoints import (checkpoint_step, has_checkpoint, load_checkpoint, save_checkpoint,
                                        trainable_parameters)
from studio.training.configs import TrainConfig, epochs_for
from studio.training.heads import save_heads
from studio.training.precision import wants_bf16
from studio.training.shared_base import SharedBase
from studio.training.stopping import Cancelled, all_or_nothing, stops_inside

MetricsCallback = Callable[[int, dict[str, float]], None]
SAVING = "Saving the checkpoint and the adapter…"  # what every engine says while it writes its last files


@dataclass
class Hooks:
    """How an engine talks to the outside world; every hook is optional."""

    on_metrics: MetricsCallback | None = None
    should_stop: Callable[[], bool] | None = None
    on_samples: Callable[[int, list[dict]], None] | None = None
    on_progress: Callable[[int, int], None] | None = None
    on_message: Callable[[str], None] | None = None  # what a long phase without steps is doing

    def say(self, text: str) -> None:
        if self.on_message:
            self.on_message(text)

    def metrics(self, step: int, values: dict[str, float]) -> None:
        if self.on_metrics:
            self.on_metrics(step, values)

    def samples(self, step: int, rows: list[dict]) -> None:
        if self.on_samples:
            self.on_samples(step, rows)

    def progress(self, step: int, total: int) -> None:
        if self.on_progress:
            self.on_progress(step, total)

    def stop_requested(self) -> bool:
        return bool(self.should_stop and self.should_stop())


@dataclass
class TrainResult:
    """How a run ended: status is finished, cancelled or diverged."""

    status: str
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    artifact: Path | None = None
    error: str | None = None


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Scores:
    """What an online engine's score function may return instead of bare scores: one score per response, and
    round metrics about them that the engine reports with its own (such as `ensemble_disagreement`)."""

    values: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


ScoreFn = Callable[[list[str], list[str]], "torch.Tensor | Scores"]


def score_round(score_fn: ScoreFn, prompts: list[str], responses: list[str], device: torch.device | str,
                iteration: int) -> tuple[torch.Tensor, dict[str, float]]:
    """One float32 score per response on `device`, and the scorer's round metrics; a non-finite score stops the run."""
    answer = score_fn(prompts, responses)
    values, metrics = (answer.values, answer.metrics) if isinstance(answer, Scores) else (answer, {})
    scores = torch.as_tensor(values, dtype=torch.float32, device=device).flatten()
    if not torch.isfinite(scores).all():
        raise Diverged(f"the scorer returned {scores.tolist()} at iteration {iteration}")
    return scores, dict(metrics)


def check_finite(loss: torch.Tensor, step: int) -> None:
    if not torch.isfinite(loss).all():
        raise Diverged(f"loss became {loss.item()} at step {step}; stopped, keeping the last good checkpoint")


def batch_for_step(train_idx: list[int], step: int, batch_size: int, seed: int) -> list[int]:
    """The examples of `step`: epochs of seeded shuffles, so a resumed run sees the same batches."""
    n = len(train_idx)
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, pos = divmod(start + len(out), n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
        out.extend(train_idx[i] for i in perm[pos:pos + batch_size - len(out)])
    return out


def schedule(config: TrainConfig, examples: int) -> tuple[int, int, int]:
    """(steps, eval_every, checkpoint_every): `steps` when set, else epochs (`epochs_for`) x examples / batch size
    (rounded up); unset intervals evaluate 5 and checkpoint 4 times per run."""
    passes = epochs_for(config, examples)
    total = config.steps or max(1, math.ceil(round(passes * examples / config.batch_size, 6)))  # 25.000001 is 25
    return (total, config.eval_every or max(1, round(total / 5)),
            config.checkpoint_every or max(1, round(total / 4)))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (macOS, Windows, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc `malloc_trim(0)`); False where there is no such call.

    On CPU a training step's activations are a stream of 0.1-4 MB tensors, below the size glibc serves with
    mmap once it has raised its threshold, so they come from the main heap; the few kept for backward pin
    freed space between them, and the heap's resident size grows ~1 GB past what is in use (SmolLM2-135M,
    8 x 120 tokens: 230 MB in use of 910 MB after one forward). Trimming after the forward and after the step
    keeps peak RSS near what is live, for a few page faults; serving those tensors by mmap instead (a low
    M_MMAP_THRESHOLD) costs 40 % more CPU per step (bench/RESULTS.md section 19c)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def heap_trimmer(device: torch.device) -> Callable[[], object]:
    """`release_free_memory` on CPU, where activations come from the C heap; a no-op on GPUs (their host heap
    stays small). Training loops call it after each forward (before backward, where the peak is). PPO and RLOO
    call it once more when an update ends, not after every optimizer step: that trim hands back ~1 GB of free
    pages the next forward faults in again, 0.25 s of a 1 s PPO step for 4% of the peak (RESULTS section 23)."""
    return release_free_memory if device.type == "cpu" else lambda: None


LRScheduler = torch.optim.lr_scheduler.LRScheduler
LossFn = Callable[[list[int]], tuple[torch.Tensor, dict[str, float]]]
# automatic gradient checkpointing: on where one step's activations could pass this share of the device's memory
CHECKPOINTING_SHARE = 0.25


def activation_bytes(model_config, tokens: int) -> int:
    """About what autograd keeps for `tokens` tokens without gradient checkpointing, in float32: per decoder
    layer and token, 6 x hidden + 4 x intermediate values (SmolLM2-135M: 1,125 KiB a token; 1,184 measured with
    saved-tensor hooks on a LoRA forward, bench/RESULTS.md section 21)."""
    config = model_config.get_text_config()
    hidden = config.hidden_size
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    return tokens * config.num_hidden_layers * (6 * hidden + 4 * intermediate) * 4


def device_memory(device: torch.device) -> int:
    """The memory training can use on `device` in bytes: a GPU's own, else the machine's (0 = unknown)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return machine_memory()


def wants_checkpointing(config: TrainConfig, base: SharedBase, tokens: int) -> bool:
    """The config's choice, or when it is unset: on where `tokens` tokens' activations could take more than
    `CHECKPOINTING_SHARE` of the device's memory (or where that memory is unknown)."""
    if config.gradient_checkpointing is not None:
        return config.gradient_checkpointing
    memory = device_memory(base.device)
    return not memory or activation_bytes(base.base.config, tokens) > CHECKPOINTING_SHARE * memory


def _optimizer(base: SharedBase, adapter: str, heads: dict[str, nn.Module], config: TrainConfig, total: int
               ) -> tuple[torch.optim.Optimizer, LRScheduler]:
    """AdamW over the adapter and the heads, with a cosine schedule over `total` steps after the warm-up."""
    from transformers import get_scheduler  # here, not at the top: it imports PEFT, which generation never needs

    optimizer = torch.optim.AdamW(trainable_parameters(base, [adapter], heads), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=config.warmup_steps,
                              num_training_steps=total)
    return optimizer, scheduler


def _gradient_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: LRScheduler, config: TrainConfig,
                   step: int) -> torch.Tensor:
    """Back-propagate `loss`, clip the gradient and step the optimizer and the schedule; the gradient's norm.
    Diverged (nothing stepped) when the loss or the gradient is not finite."""
    check_finite(loss, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], config.max_grad_norm)
    if not math.isfinite(grad_norm.item()):
        raise Diverged(f"gradient became {grad_norm.item()} at step {step}; stopped, "
                       "keeping the last good checkpoint")
    optimizer.step()
    scheduler.step()
    return grad_norm


def _step_metrics(loss: torch.Tensor, values: dict[str, float], grad_norm: torch.Tensor, scheduler: LRScheduler,
                  config: TrainConfig, elapsed: float) -> dict[str, float]:
    """A step's metrics: loss, learning rate, gradient norm, speed and what `loss_fn` reported."""
    tokens = values.pop("tokens", None)
    last = {"loss": loss.item(), "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm.item(),
            "examples_per_s": config.batch_size / elapsed, **values}
    if tokens:
        last["tokens_per_s"] = tokens / elapsed
    return last


def _evaluate(base: SharedBase, eval_fn: Callable[[], dict[str, float]] | None, hooks: Hooks, step: int
              ) -> dict[str, float]:
    """`eval_fn`'s figures, measured with the model in eval mode and no gradients (none without one)."""
    if not eval_fn:
        return {}
    hooks.say(f"Step {step}: measuring on the held-out examples…")
    base.model.eval()
    with torch.no_grad():
        figures = eval_fn()
    base.model.train()
    return figures


def run_supervised(*, base: SharedBase, adapter: str, heads: dict[str, nn.Module], train_idx: list[int],
                   loss_fn: LossFn, eval_fn: Callable[[], dict[str, float]] | None, split: tuple[int, int],
                   config: TrainConfig, run_dir: Path, hooks: Hooks, tokens: int,
                   resume: bool = False) -> TrainResult:
    """Optimise `adapter` (+ `heads`) with `loss_fn` for `config.steps` steps (else `config.epochs` passes over
    `train_idx`), evaluating and checkpointing at intervals that scale with the run; resumable. `tokens`: the
    most one step's forward holds (`batches.step_tokens`), which decides automatic gradient checkpointing.

    `split` is (held out, total) in the unit the data was split by (prompts or demonstrations): recorded as
    `eval_size` and `data_size` with every evaluation and the last step, so each eval figure says what it
    rests on. A Stop inside a step (its passes or its evaluation, `stopping.stops_inside`) drops that step whole:
    the run ends at the step before, as an uninterrupted run had it."""
    run_dir = Path(run_dir)
    total, eval_every, checkpoint_every = schedule(config, len(train_idx))
    optimizer, scheduler = _optimizer(base, adapter, heads, config, total)
    step = 0
    if resume and has_checkpoint(run_dir):
        step, _ = load_checkpoint(run_dir, base, [adapter], heads, optimizer, scheduler)

    def checkpoint() -> None:
        save_checkpoint(run_dir, step, base, [adapter], heads, optimizer, scheduler)

    last: dict[str, float] = {}
    status = "finished"
    trim = heap_trimmer(base.device)
    if wants_checkpointing(config, base, tokens):
        base.base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    with base.use(adapter), base.bf16_trunk(wants_bf16(config.bf16_autocast, base)):
        base.model.train()
        try:
            while step < total:
                if hooks.stop_requested():
                    status = "cancelled"
                    break
                idx = batch_for_step(train_idx, step, config.batch_size, config.seed)
                evaluates = (step + 1) % eval_every == 0 or step + 1 == total
                try:  # a Stop during the evaluation takes back the step it measures
                    with all_or_nothing(optimizer, scheduler) if evaluates and eval_fn else nullcontext():
                        values = _train_step(loss_fn, idx, optimizer, scheduler, config, step + 1, trim)
                        if evaluates:
                            values.update(eval_size=split[0], data_size=split[1])
                            values.update(_evaluate(base, eval_fn, hooks, step + 1))
                except Cancelled:
                    status = "cancelled"
                    break
                step, last = step + 1, values
                hooks.metrics(step, last)
                hooks.progress(step, total)
                if step % checkpoint_every == 0 and step < total:
                    checkpoint()
        except Diverged as exc:
            base.model.eval()
            return TrainResult("diverged", step, last, None, str(exc))
        finally:
            base.model.eval()
            base.base.gradient_checkpointing_disable()

    def save() -> Path:
        if heads:
            save_heads(heads, run_dir / "heads.safetensors")
        return base.save_adapter(adapter, run_dir / "adapter")

    return end_run(run_dir, TrainResult(status, step, last), hooks, checkpoint, save)


def _train_step(loss_fn: LossFn, idx: list[int], optimizer: torch.optim.Optimizer, scheduler: LRScheduler,
                config: TrainConfig, step: int, trim: Callable[[], object]) -> dict[str, float]:
    """One optimizer step of `loss_fn` on the examples `idx`; the step's metrics."""
    t0 = time.perf_counter()
    loss, values = loss_fn(idx)
    trim()
    grad_norm = _gradient_step(loss, optimizer, scheduler, config, step)
    trim()
    return _step_metrics(loss, values, grad_norm, scheduler, config, time.perf_counter() - t0)


def end_run(run_dir: Path, result: TrainResult, hooks: Hooks, checkpoint: Callable[[], object],
            save: Callable[[], Path]) -> TrainResult:
    """How a run that did not diverge ends: its checkpoint at `result.step` (kept as it is when a Stop came right
    after it was written) and, only when it finished, its adapter and heads (`save`, which returns the adapter's
    folder, the run's artifact): a stopped run's files are its checkpoint."""
    if result.status == "finished" or checkpoint_step(run_dir) != result.step:
        hooks.say(SAVING)
        checkpoint()
    return dataclasses.replace(result, artifact=save()) if result.status == "finished" else result


def stoppable(train: Callable[..., TrainResult]) -> Callable[..., TrainResult]:
    """An engine `train(base, data, config, run_dir, hooks, ...)` run with `stopping.stops_inside` open for its
    hooks. The engine catches `Cancelled` in its own loop; one that reaches this wrapper came before the first step
    (a reference pass over the data) and ends the run "cancelled" at its checkpoint's step, having written nothing."""
    signature = inspect.signature(train)

    @functools.wraps(train)
    def run(*args, **kwargs) -> TrainResult:
        given = signature.bind(*args, **kwargs).arguments
        hooks = given.get("hooks") or Hooks()
        with stops_inside(given["base"], hooks.should_stop):
            try:
                return train(*args, **kwargs)
            except Cancelled:
                return TrainResult("cancelled", checkpoint_step(Path(given["run_dir"])))

    return run
