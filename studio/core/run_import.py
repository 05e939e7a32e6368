"""Bring a LoRA adapter trained elsewhere (an exported TRL job's `output/`) back into a project as a run.

Everything is checked before anything is written, each fault in one line naming its file: `job.json` and
`adapter_config.json` are JSON objects with fields of the right types, the adapter is a safetensors file
whose header reads and names tensors, and the folder holds no symlink, pipe or device (a symlink's target,
inside the folder or out, is never copied).
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError, safe_open

from studio.core.project import Project
from studio.core.run_kinds import kinds

NOT_COPIED = ("*.bin", "*.pt", "*.pth", "checkpoint-*")  # pickles and trainer checkpoints stay behind
MAX_JSON_BYTES = 16 << 20


def _regular(path: Path) -> bool:
    """Whether `path` is a regular file (not following a symlink); a symlink, pipe or device is refused."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        what = "a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "a pipe or device"
        raise ValueError(f"{path} is {what}, not a regular file: nothing was imported")
    return True


def _json_object(path: Path) -> dict:
    """The JSON object in `path`, or ValueError naming the file."""
    if os.stat(path).st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB: not a job's settings")
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not valid UTF-8 (byte {e.start + 1})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


def _job(folder: Path) -> dict:
    """`job.json` beside `folder` ({} if there is none), its fields checked."""
    path = folder.parent / "job.json"
    if not _regular(path):
        return {}
    job = _json_object(path)
    config = job.setdefault("config", {})
    checks = [("kind", job.get("kind"), (str, type(None))), ("engine", job.get("engine", ""), str),
              ("config", config, dict), ("init_run", job.get("init_run"), (int, type(None)))]
    if isinstance(config, dict):
        checks += [(f"config.{key}", config.get(key), (int, type(None))) for key in ("steps", "iterations")]
    for name, value, types in checks:
        if not isinstance(value, types) or isinstance(value, bool) or (isinstance(value, int) and value < 0):
            raise ValueError(f'{path}: "{name}" has the wrong type or value ({json.dumps(value)[:60]})')
    return job


def _check_adapter(folder: Path) -> None:
    """A LoRA adapter_config.json and an adapter_model.safetensors whose header reads and names tensors."""
    config_file, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not _regular(config_file):
        raise ValueError(f"{folder} holds no PEFT adapter (adapter_config.json is missing)")
    if not _regular(weights):
        raise ValueError(f"{folder} has no adapter_model.safetensors (pickle weights are not loaded)")
    peft_type = _json_object(config_file).get("peft_type", "LORA")
    if peft_type != "LORA":
        raise ValueError(f"{folder} holds a {peft_type} adapter; only LoRA adapters import")
    try:
        with safe_open(weights, framework="numpy") as f:
            tensors = list(f.keys())
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{weights} is not a readable safetensors file ({e}): an unfinished or damaged "
                         "adapter") from None
    if not tensors:
        raise ValueError(f"{weights} holds no tensors: an unfinished or damaged adapter")


def _check_tree(folder: Path) -> None:
    """Refuse a symlink, pipe or device anywhere among the files that would be copied."""
    for entry in os.scandir(folder):
        if any(fnmatch.fnmatch(entry.name, pattern) for pattern in NOT_COPIED):
            continue
        if entry.is_dir(follow_symlinks=False):
            _check_tree(Path(entry.path))
        else:
            _regular(Path(entry.path))


def import_run(project: Project, folder: str | Path, kind: str | None = None,
               fold: Callable[[int, Path], None] | None = None) -> int:
    """Copy the PEFT adapter in `folder` to runs/<id>/adapter as a finished run; returns the run id.

    The kind comes from the job's `job.json` beside `folder` unless given. Only safetensors adapters load.
    A job trained on a run merged into the base names it as `init_run`: that run becomes the parent and
    `fold(init_run, adapter_dir)` makes the copied adapter apply to the bare base.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder holding a PEFT adapter")
    _check_adapter(folder)
    _check_tree(folder)
    job = _job(folder)
    kind = kind or job.get("kind")
    if kind is None:
        raise ValueError(f"no job.json beside {folder}: say which kind of run it is (--kind)")
    if kind not in kinds(makes_policy=True):
        raise ValueError(f"only policy adapters import as runs ({', '.join(kinds(makes_policy=True))}), "
                         f"not {kind!r}")
    store = project.store
    config = {**job.get("config", {}), "_imported_from": str(folder.resolve()), "_engine": job.get("engine", "")}
    steps = job.get("config", {}).get("steps") or job.get("config", {}).get("iterations") or 0
    init_run = job.get("init_run")
    if init_run is not None and fold is None:
        raise ValueError(f"the job trained on run {init_run} merged into the base; its adapter must be folded")
    with store.transaction():
        run_id = store.create_run(kind, config, parent=init_run)
        target = project.run_dir(run_id) / "adapter"
        try:
            shutil.copytree(folder, target, ignore=shutil.ignore_patterns(*NOT_COPIED))
            if init_run is not None:
                fold(init_run, target)
            store.update_run(run_id, status="finished", artifact=project.relative_artifact(run_id, target), step=steps,
                             final_metrics={})
        except BaseException:
            shutil.rmtree(project.run_dir(run_id), ignore_errors=True)
            raise
    return run_id
