"""Glue between a project (store + run folders) and the engines: what the CLI and the GUI workers call.

Engines never see the store; here a run row is created, the hooks are wrapped so every metric and
sample lands in SQLite as it happens, and the run's status is written at the end whatever happens.
Open the project in the thread that calls these functions (sqlite connections are per thread).
"""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from studio.core.project import Project
from studio.core.records import Run
from studio.training.checkpoints import checkpoint_step
from studio.training.configs import CONFIGS, validate
from studio.training.dpo import train_dpo
from studio.training.engine import Hooks, TrainResult
from studio.training.generation import SamplingConfig, generate
from studio.training.models import load_model
from studio.training.ppo import train_ppo
from studio.training.reward import RewardScorer, train_reward
from studio.training.sft import train_sft
from studio.training.shared_base import SharedBase

ADAPTER_OF = {"sft": "sft", "reward": "reward", "ppo": "policy", "dpo": "dpo"}
GENERATION_BATCH = 8  # sequences per generate call when making comparisons


def open_base(project: Project, device: str = "auto", progress: Callable[[str], None] | None = None) -> SharedBase:
    """Load the project's model once; every role is an adapter on it."""
    return SharedBase.from_loaded(load_model(project.model_spec, device=device, progress=progress))


def policy_adapter(project: Project, base: SharedBase, policy: str) -> str | None:
    """Load the adapter of run `policy` (id or latest:KIND) for generation; "base" means no adapter."""
    if policy == "base":
        return None
    run = project.store.resolve_run(policy)
    if run.kind == "reward":
        raise ValueError(f"run {run.id} is a reward model, not a policy")
    name = f"run{run.id}"
    if name not in base.adapters():
        base.load_adapter(name, Path(run.artifact))
    return name


def policy_label(project: Project, policy: str) -> str:
    """The stored name of a policy: "base" or the resolved run id as text."""
    return "base" if policy == "base" else str(project.store.resolve_run(policy).id)


def generate_comparisons(project: Project, base: SharedBase, per_prompt: int, policy: str = "base",
                         sampling: SamplingConfig | None = None, hooks: Hooks | None = None,
                         limit: int | None = None) -> list[int]:
    """K responses for every prompt that has none from `policy`, each set stored as one comparison."""
    if per_prompt < 2:
        raise ValueError("a comparison needs at least 2 responses per prompt")
    hooks, sampling = hooks or Hooks(), sampling or SamplingConfig()
    store = project.store
    label = policy_label(project, policy)
    todo = store.prompts_without_responses(label)[:limit]
    made: list[int] = []
    settings = dataclasses.asdict(sampling)
    per_call = max(1, GENERATION_BATCH // per_prompt)  # prompts per generate call: batched, not one by one
    with base.use(policy_adapter(project, base, policy)) as model:
        for start in range(0, len(todo), per_call):
            if hooks.stop_requested():
                break
            chunk = todo[start:start + per_call]
            answers = generate(model, base.tokenizer, [p.text for p in chunk], sampling,
                               num_return_sequences=per_prompt, batch_size=GENERATION_BATCH,
                               should_stop=hooks.should_stop)
            with store.transaction():
                for prompt, texts in zip(chunk, answers):
                    ids = [store.add_response(prompt.id, t, label, settings) for t in texts]
                    made.append(store.add_comparison(prompt.id, ids))
            hooks.progress(start + len(answers), len(todo))
    return made


def sample(project: Project, base: SharedBase, policy: str, prompts: list[str],
           sampling: SamplingConfig | None = None, hooks: Hooks | None = None) -> list[str]:
    """One completion per prompt from `policy` (greedy by default)."""
    hooks, sampling = hooks or Hooks(), sampling or SamplingConfig(do_sample=False, temperature=0)
    with base.use(policy_adapter(project, base, policy)) as model:
        return [a[0] for a in generate(model, base.tokenizer, prompts, sampling, should_stop=hooks.should_stop,
                                       on_progress=hooks.on_progress)]


def reward_scorer(project: Project, base: SharedBase, reward: str) -> RewardScorer:
    run = project.store.resolve_run(reward)
    if run.kind != "reward":
        raise ValueError(f"run {run.id} is a {run.kind} run, not a reward model")
    return RewardScorer.load(base, project.run_dir(run.id))


def train(project: Project, base: SharedBase, kind: str, config=None, hooks: Hooks | None = None,
          resume: int | str | None = None, init: str | None = None, reward: str | None = None) -> tuple[int, TrainResult]:
    """Run one engine as a stored run (or resume one); returns (run id, result)."""
    store = project.store
    hooks = hooks or Hooks()
    if resume is not None:
        run = store.resolve_run(resume) if not str(resume).isdigit() else store.run(int(resume))
        kind, config = run.kind, _config_from(run)
        init, reward = run.config.get("_init"), run.config.get("_reward")
        run_id = run.id
        store.forget_after(run_id, checkpoint_step(project.run_dir(run_id)))  # those steps run again
        store.update_run(run_id, status="running", error="")
    else:
        config = config or CONFIGS[kind]()
        validate(config)
        init = _default_init(project, kind, init)  # stored resolved, so a resume uses the same runs
        init = policy_label(project, init) if init is not None else None
        reward = _default_reward(project, kind, reward)
        stored = {**dataclasses.asdict(config), "_init": init, "_reward": reward}
        parent = store.resolve_run(init).id if init not in (None, "base") else None
        run_id = store.create_run(kind, stored, parent=parent)
    run_dir = project.run_dir(run_id)
    recording = _recording_hooks(project, run_id, hooks)
    try:
        result = _dispatch(project, base, kind, config, run_dir, recording, resume is not None, init, reward)
    except torch.OutOfMemoryError:
        store.update_run(run_id, status="failed", error="out of memory: lower the batch size or the lengths")
        raise
    except Exception as exc:
        store.update_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    store.update_run(run_id, status=result.status, step=result.step, final_metrics=result.metrics,
                     artifact=str(result.artifact) if result.artifact else None, error=result.error or "")
    return run_id, result


def export_run(project: Project, run_ref: str, out_dir: Path, merged: bool = False) -> Path:
    """Write a run's PEFT adapter folder, or the base with the adapter merged, as safetensors."""
    run = project.store.resolve_run(run_ref)
    if run.status != "finished" or not run.artifact:
        raise ValueError(f"run {run.id} has no finished adapter to export (status {run.status})")
    out_dir = Path(out_dir)
    loaded = load_model(project.model_spec, device="cpu")
    if not merged:
        shutil.copytree(run.artifact, out_dir, dirs_exist_ok=True)
        heads = project.run_dir(run.id) / "heads.safetensors"
        if heads.exists():
            shutil.copy2(heads, out_dir / "heads.safetensors")
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(loaded.model, run.artifact).merge_and_unload()
        model.save_pretrained(out_dir, safe_serialization=True)
    loaded.tokenizer.save_pretrained(out_dir)
    return out_dir


# -- internals -------------------------------------------------------------------------------------
def _dispatch(project, base, kind, config, run_dir, hooks, resume, init, reward) -> TrainResult:
    store = project.store
    if kind == "sft":
        demos = [{"prompt": d.prompt, "response": d.response, "system": d.system} for d in store.demos()]
        return train_sft(base, demos, config, run_dir, hooks, resume=resume)
    pairs = [dataclasses.asdict(p) for p in store.preference_pairs()]
    if kind == "reward":
        return train_reward(base, pairs, config, run_dir, hooks, resume=resume)
    init_adapter = _load_init(project, base, init)
    if kind == "dpo":
        return train_dpo(base, pairs, config, run_dir, hooks, resume=resume, init_adapter=init_adapter)
    if kind == "ppo":
        scorer = reward_scorer(project, base, reward)
        prompts = [p.text for p in store.prompts()]
        return train_ppo(base, prompts, scorer, config, run_dir, hooks, resume=resume, init_adapter=init_adapter,
                         score_norm=(scorer.mean, scorer.std))
    raise ValueError(f"unknown run kind {kind!r}: choose sft, reward, ppo or dpo")


def _load_init(project: Project, base: SharedBase, init: str | None) -> str | None:
    """Load the starting policy (an SFT run) as adapter "sft"; None starts from the base model."""
    if init in (None, "base"):
        return None
    run = project.store.resolve_run(init)
    base.load_adapter("sft", Path(run.artifact))
    return "sft"


def _default_init(project: Project, kind: str, init: str | None) -> str | None:
    if kind not in ("ppo", "dpo"):
        return None
    if init is not None:
        return init
    return "latest:sft" if project.store.runs("sft") and _has_finished(project, "sft") else "base"


def _default_reward(project: Project, kind: str, reward: str | None) -> str | None:
    if kind != "ppo":
        return None
    return str(project.store.resolve_run(reward or "latest:reward").id)


def _has_finished(project: Project, kind: str) -> bool:
    return any(r.status == "finished" for r in project.store.runs(kind))


def _config_from(run: Run):
    cls = CONFIGS[run.kind]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in run.config.items() if k in names})


def _recording_hooks(project: Project, run_id: int, hooks: Hooks) -> Hooks:
    store = project.store

    def on_metrics(step: int, values: dict[str, float]) -> None:
        store.add_metrics(run_id, step, values)
        hooks.metrics(step, values)

    def on_samples(step: int, rows: list[dict]) -> None:
        store.add_samples(run_id, step, rows)
        hooks.samples(step, rows)

    return Hooks(on_metrics=on_metrics, should_stop=hooks.should_stop, on_samples=on_samples,
                 on_progress=hooks.on_progress)
