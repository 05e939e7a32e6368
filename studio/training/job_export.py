"""Glue for `studio job export`: the model folder, the project's settings and, for RLOO and PPO, the reward
model, handed to `studio.core.jobs.write_job`."""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from studio.core.atomic import atomic_writer
from studio.core.job_rewards import stored_terms
from studio.core.jobs import JobSpec, check_job, check_settings, on_openrlhf, trl_config, write_job, yaml_text
from studio.core.project import Project
from studio.core.reward_terms import RM, is_default
from studio.core.run_kinds import REWARD, SFT, run_kind
from studio.training import configs
from studio.training.models import EMBEDDED, _gguf_cache, embedded_gguf


def model_folder(spec: str, say: Callable[[str], None] = lambda _m: None) -> Path:
    """The Hugging Face folder behind a project's model spec (a GGUF becomes its cached safetensors copy)."""
    path = embedded_gguf() if spec == EMBEDDED else Path(spec).expanduser()
    return _gguf_cache(path, say) if path.suffix == ".gguf" else path.resolve()


def _newest(project: Project, kind: str):
    """The project's newest run of `kind`, or None."""
    return max(project.store.runs(kind), key=lambda r: r.id, default=None)


def project_terms(project: Project, kind: str) -> list:
    """The reward terms of the project's newest run of online `kind` (the reward model alone without one), refused
    with one line when its job's engine cannot carry them (`core.job_rewards.stored_terms`)."""
    newest = _newest(project, kind)
    return stored_terms(newest.config if newest else {}, newest.id if newest else None,
                        "openrlhf" if on_openrlhf(kind) else "trl")


def project_settings(project: Project, kind: str):
    """The settings of the project's newest run of `kind` (else the defaults), checked by type and range."""
    cls = configs.config_class(kind)
    names = {f.name for f in dataclasses.fields(cls)}
    newest = _newest(project, kind)
    if newest is None:
        return cls()
    config = cls(**{k: v for k, v in newest.config.items() if k in names})
    try:
        check_settings(config)
        configs.validate(config)
    except ValueError as e:
        raise ValueError(f"run {newest.id}'s settings cannot go into a job: {e}") from None
    return config


def export_job(project: Project, kind: str, out: Path, init: str | None = None, reward: str = f"latest:{REWARD}",
               say: Callable[[str], None] = lambda _m: None) -> int:
    """Write a TRL (or, for PPO, OpenRLHF) job folder; returns the number of training examples."""
    from studio.training.reward_export import export_reward_model
    from studio.training.runs import export_run

    out = project.check_output(out, folder=True)  # a job folder is always new: never --force
    store = project.store
    online = run_kind(kind).online
    terms = project_terms(project, kind) if online else []
    check_job(store, kind, out, terms)  # before the model is converted or merged: bad requests cost no waiting
    settings = project_settings(project, kind)
    if init is None and run_kind(kind).starts_from_policy:
        init = f"latest:{SFT}" if any(r.kind == SFT and r.status == "finished" for r in store.runs()) else "base"
    uses_model = any(t.source == RM for t in terms)
    reward_run = store.resolve_run(reward) if uses_model else None  # before anything is written
    init_run = store.resolve_run(init).id if init not in (None, "base") else None
    spec = JobSpec(kind, str(model_folder(project.model_spec, say)), settings)
    if online:
        spec.terms = terms
    if init_run is not None:
        spec.model, spec.init_run = "model", init_run
        spec.notes.append(f"`model/` is the base with run {spec.init_run} merged in; `runs import` folds that "
                          "run's adapter into the result so it applies to the bare base.")
    if reward_run is not None:
        spec.reward_model = "reward_model"
        spec.notes.append(f"`reward_model/` is reward run {reward_run.id} as a sequence-classification model.")
        if getattr(settings, "uncertainty_penalty", 0.0) > 0:  # TRL and OpenRLHF score with one reward model
            spec.notes.append(f"The studio's cautious reward (uncertainty_penalty={settings.uncertainty_penalty}: "
                              "the mean score minus that many standard deviations of the reward model's five "
                              "bootstrap heads) is not in this job: it optimises the reward model's own score.")
        if getattr(settings, "stay_in_reach", False):
            spec.notes.append("The studio's stay_in_reach (answers past what the labels cover scored no higher than "
                              "the reward model's lowest training score) is not in this job.")
    count = write_job(store, spec, out)
    try:
        if init not in (None, "base"):
            say("Merging the starting policy into the base…")
            export_run(project, init, out / "model", merged=True)
        if reward_run is not None:
            say("Writing the reward model…")
            export_reward_model(project, str(reward_run.id), out / "reward_model")
            if not is_default(terms):  # the reward model's weight in its raw units (`trl_reward_settings`)
                spec.reward_std = json.loads((out / "reward_model" / "config.json").read_text())["std"]
                with atomic_writer(out / "trl_config.yaml") as f:
                    f.write(yaml_text(trl_config(spec)))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return count


def fold_init_adapter(project: Project, init_run: int, adapter_dir: Path) -> None:
    """Make an adapter trained on (base + run `init_run` merged) apply to the bare base, in place.

    PEFT's `cat` combination stacks both LoRAs (rank r1 + r2), so the result is exactly the sum of the
    two weight updates: W + dInit + dJob.
    """
    from peft import PeftModel

    from studio.training.models import load_model

    loaded = load_model(project.model_spec, device="cpu")
    init = project.artifact_path(project.store.run(init_run))
    model = PeftModel.from_pretrained(loaded.model, init, adapter_name="init")
    model.load_adapter(str(adapter_dir), adapter_name="job")
    model.add_weighted_adapter(["init", "job"], [1.0, 1.0], "folded", combination_type="cat")
    staging = adapter_dir.with_name(".folding")
    model.save_pretrained(staging, selected_adapters=["folded"])
    shutil.rmtree(adapter_dir)
    (staging / "folded").rename(adapter_dir)
    shutil.rmtree(staging)
