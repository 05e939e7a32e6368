"""Bring a LoRA adapter trained elsewhere (an exported TRL job's `output/`) back into a project as a run."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from studio.core.project import Project
from studio.core.run_kinds import POLICY_KINDS


def import_run(project: Project, folder: str | Path, kind: str | None = None,
               fold: Callable[[int, Path], None] | None = None) -> int:
    """Copy the PEFT adapter in `folder` to runs/<id>/adapter as a finished run; returns the run id.

    The kind comes from the job's `job.json` beside `folder` unless given. Only safetensors adapters load.
    A job trained on a run merged into the base names it as `init_run`: that run becomes the parent and
    `fold(init_run, adapter_dir)` makes the copied adapter apply to the bare base.
    """
    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise ValueError(f"{folder} holds no PEFT adapter (adapter_config.json is missing)")
    if not (folder / "adapter_model.safetensors").is_file():
        raise ValueError(f"{folder} has no adapter_model.safetensors (pickle weights are not loaded)")
    job_file = folder.parent / "job.json"
    job = json.loads(job_file.read_text(encoding="utf-8")) if job_file.is_file() else {}
    kind = kind or job.get("kind")
    if kind is None:
        raise ValueError(f"no job.json beside {folder}: say which kind of run it is (--kind)")
    if kind not in POLICY_KINDS:
        raise ValueError(f"only policy adapters import as runs ({', '.join(POLICY_KINDS)}), not {kind!r}")
    adapter_config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    if adapter_config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{folder} holds a {adapter_config['peft_type']} adapter; only LoRA adapters import")
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
            shutil.copytree(folder, target, ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.pth", "checkpoint-*"))
            if init_run is not None:
                fold(init_run, target)
            store.update_run(run_id, status="finished", artifact=project.relative_artifact(run_id, target), step=steps,
                             final_metrics={})
        except BaseException:
            shutil.rmtree(project.run_dir(run_id), ignore_errors=True)
            raise
    return run_id
