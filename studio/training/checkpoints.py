"""Resumable checkpoints: adapters and heads as safetensors, optimizer and RNG state, the step.

A checkpoint is written to `checkpoint.tmp/` and renamed into place, so a kill mid-write leaves the
previous checkpoint intact. Optimizer state is our own file and is read back with
`torch.load(weights_only=True)`, which refuses arbitrary pickled objects.
"""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import torch
from torch import nn

from studio.training.heads import load_heads, save_heads
from studio.training.shared_base import SharedBase

CHECKPOINT = "checkpoint"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read back; the message names the file."""


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT


def has_checkpoint(run_dir: Path) -> bool:
    """Whether a complete checkpoint exists, after finishing a save that a kill cut between its renames."""
    final = checkpoint_dir(run_dir)
    if not (final / "meta.json").exists():
        for leftover in (final.with_name(CHECKPOINT + ".tmp"), final.with_name(CHECKPOINT + ".old")):
            if (leftover / "meta.json").exists():  # meta.json is written last: the folder is complete
                shutil.rmtree(final, ignore_errors=True)
                leftover.rename(final)
                break
    return (final / "meta.json").exists()


def checkpoint_step(run_dir: Path) -> int:
    """The step the checkpoint in `run_dir` resumes from (0 when there is none)."""
    if not has_checkpoint(run_dir):
        return 0
    return json.loads((checkpoint_dir(run_dir) / "meta.json").read_text())["step"]


def checkpoint_extra(run_dir: Path) -> dict:
    """The engine's extra state (e.g. PPO's beta) in the checkpoint of `run_dir`, read only ({} when there is none)."""
    meta = checkpoint_dir(run_dir) / "meta.json"
    return json.loads(meta.read_text())["extra"] if meta.exists() else {}


def save_checkpoint(run_dir: Path, step: int, base: SharedBase, adapters: list[str],
                    heads: dict[str, nn.Module], optimizer: torch.optim.Optimizer,
                    scheduler=None, extra: dict | None = None) -> Path:
    """Write everything needed to resume at `step`, atomically."""
    final = checkpoint_dir(run_dir)
    tmp = final.with_name(CHECKPOINT + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in adapters:
        base.save_adapter(name, tmp / "adapters" / name)
    if heads:
        save_heads(heads, tmp / "heads.safetensors")
    state = {"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({"step": step, "extra": extra or {}}))
    old = final.with_name(CHECKPOINT + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(run_dir: Path, base: SharedBase, adapters: list[str], heads: dict[str, nn.Module],
                    optimizer: torch.optim.Optimizer, scheduler=None) -> tuple[int, dict]:
    """Restore a checkpoint written by `save_checkpoint`; returns (step, extra)."""
    src = checkpoint_dir(run_dir)
    meta = json.loads((src / "meta.json").read_text())
    for name in adapters:
        base.load_adapter(name, src / "adapters" / name, trainable=name in base.trainable)
    if heads:
        load_heads(heads, src / "heads.safetensors")
    try:
        state = torch.load(src / "state.pt", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{src / 'state.pt'} cannot be resumed from: it is truncated, damaged or was not "
                              f"written by Alignment Studio ({type(e).__name__})") from e
    _rebind_optimizer(optimizer, base, adapters, heads)
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return meta["step"], meta["extra"]


def trainable_parameters(base: SharedBase, adapters: list[str], heads: dict[str, nn.Module]) -> list[nn.Parameter]:
    """Parameters an engine optimises, in a fixed order (so optimizer state maps back on resume)."""
    params = [p for name in adapters for p in base.adapter_parameters(name)]
    return params + [p for head in heads.values() for p in head.parameters()]


def _rebind_optimizer(optimizer, base, adapters, heads) -> None:
    """Loading an adapter re-creates its parameters; point the optimizer at the new ones."""
    optimizer.param_groups[0]["params"] = trainable_parameters(base, adapters, heads)
