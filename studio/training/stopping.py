"""Stop within a layer's work: a Stop interrupts sampling, scoring, log-prob and update passes mid-way.

Checking only between rounds made Stop wait for a whole PPO round (its sampling and scoring: 11.8 s on the
embedded model, issue 27). Every pass of every engine runs through the shared base's decoder layers, the reward
model's scoring and the reference passes included, so one check there covers them all without threading a stop
flag through each score function: while `stops_inside` is open, each decoder layer first asks `should_stop()`
and raises `Cancelled` when it is true, and in a training pass asks again as the backward pass leaves it (a
tensor hook on its input: a backward takes as long as two forwards). The engine catches it where a unit of work
(a step, a round) began and discards that unit whole (`all_or_nothing` puts back any optimizer step it had
applied), so nothing half-done is reported or saved as a checkpoint and a resume repeats exactly what an
uninterrupted run would have run.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from studio.training.shared_base import SharedBase


class Cancelled(Exception):
    """Stop was asked for in the middle of a pass: the step or round it belongs to is discarded."""


def decoder_layers(base: SharedBase) -> list[nn.Module]:
    """The decoder's blocks (the ModuleList as long as the model has layers), else the decoder itself."""
    decoder = base.base.get_decoder()
    count = base.base.config.get_text_config().num_hidden_layers
    blocks = next((m for m in decoder.modules() if isinstance(m, nn.ModuleList) and len(m) == count), None)
    return list(blocks) if blocks is not None else [decoder]


@contextmanager
def stops_inside(base: SharedBase, should_stop: Callable[[], bool] | None) -> Iterator[None]:
    """While open, every decoder layer's forward first raises `Cancelled` once `should_stop()` is true, and so does
    the backward pass where it leaves a layer whose input needs a gradient (nothing without a `should_stop`). The
    check is an Event lookup: ~1 us against a layer's milliseconds."""
    if should_stop is None:
        yield
        return

    def backward_check(grad: torch.Tensor) -> None:
        if should_stop():
            raise Cancelled

    def check(module: nn.Module, args: tuple) -> None:
        if should_stop():
            raise Cancelled
        if args and isinstance(args[0], torch.Tensor) and args[0].requires_grad:
            args[0].register_hook(backward_check)

    handles = [layer.register_forward_pre_hook(check) for layer in decoder_layers(base)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def all_or_nothing(optimizer: torch.optim.Optimizer, scheduler=None) -> Iterator[None]:
    """The block's optimizer steps stand only if it ends: on `Cancelled` the parameters, the optimizer's (and
    `scheduler`'s) state go back to how they were on entry (LoRA-sized copies), and `Cancelled` goes on."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    values = [p.detach().clone() for p in params]
    state = copy.deepcopy(optimizer.state_dict())
    schedule = copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None
    try:
        yield
    except Cancelled:
        with torch.no_grad():
            for p, value in zip(params, values):
                p.copy_(value)
        optimizer.load_state_dict(state)
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.load_state_dict(schedule)
        raise
