"""Glue between a project (store + run folders) and the engines: what the CLI and the GUI workers call.

Engines never see the store; here a run row is created, the hooks are wrapped so every metric and
sample lands in SQLite as it happens, and the run's status is written at the end whatever happens.
Open the project in the thread that calls these functions (sqlite connections are per thread).
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
from collections.abc import Callable, Collection
from pathlib import Path

import torch

from studio.core.active import unscored
from studio.core.oversight_store import forget_alarms_after, watch_run
from studio.core.project import Project
from studio.core.preferences import ranking_loss_for
from studio.core.ratings import Ratings, training_rankings
from studio.core.records import Run
from studio.core.reward_terms import JUDGE, TERMS_KEY, Term, split_weight, terms_for_run, uses_reward_model
from studio.core.run_kinds import DEMONSTRATIONS, PAIRS, PROMPTS, RATINGS, REWARD, SFT, run_kind
from studio.core.store import Store
from studio.training.answers import (FIRST_BATCH, GENERATION_BATCH, default_sampling,  # noqa: F401 (named as before)
                                     generate_comparisons, generation_chunks, policy_adapter, policy_label, sample)
from studio.training.checkpoints import checkpoint_step
from studio.training.configs import config_class, resolve, validate, with_device_lengths
from studio.training.engine import Hooks, TrainResult
from studio.training.judge import Judge
from studio.training.models import load_model, model_identity
from studio.training.reward import RewardScorer
from studio.training.rm_scoring import score_reward_run
from studio.training.shared_base import SharedBase, open_base  # noqa: F401 (named as before)
from studio.training.stopping import Cancelled, stops_inside
from studio.training.term_rewards import RewardFunction, TermReward
from studio.training.uncertainty import OnlineReward, score_comparisons

# an engine's training data, by what its kind learns from
TRAINING_DATA: dict[object, Callable[[Store], list]] = {
    DEMONSTRATIONS: lambda store: [{"prompt": d.prompt, "response": d.response, "system": d.system}
                                   for d in store.demos()],
    PAIRS: training_rankings,  # whole; the engines decompose them into pairs unless ranking_loss keeps them whole
    RATINGS: lambda store: Ratings(store).examples(),
    PROMPTS: lambda store: [p.text for p in store.prompts()]}
RANKING_LOSS_KEY = "_ranking_loss"  # the loss a reward or DPO run's ranking_loss resolved to when it started


def check_data(project: Project, kind: str) -> None:
    """Refuse a run of `kind` with nothing to learn from, before a run is stored or the model loads."""
    spec = run_kind(kind)
    if not TRAINING_DATA[spec.learns_from](project.store):
        raise ValueError(f"{spec.label} needs {spec.learns_from.needs} (nothing was run)")


def reward_dir(project: Project, reward: str) -> Path:
    """The folder of reward run `reward` (an id or latest:reward)."""
    run = project.store.resolve_run(reward)
    if run.kind != REWARD:
        raise ValueError(f"run {run.id} is a {run.kind} run, not a reward model")
    if run.status != "finished":
        raise ValueError(f"reward run {run.id} did not finish ({run.status}): resume it first")
    return project.artifact_path(run).parent


def reward_scorer(project: Project, base: SharedBase, reward: str) -> RewardScorer:
    return RewardScorer.load(base, reward_dir(project, reward))


def check_terms(project: Project, kind: str, terms: list[str] | None = None,
                functions: Collection[str] | None = None, resume: int | str | None = None,
                reward: str | None = None) -> list[Term]:
    """The checked reward terms of an online run of `kind` (`core.reward_terms`; [] for other kinds), or of the run
    being resumed (the terms it started with; its --reward-file functions given again). `functions`: the names of
    the --reward-file functions (their files need not have run yet). Before a run is stored or the model loads: the
    CLI's and `train`'s pre-flight check."""
    if resume is not None:
        given = {f"file:{name}" for name in functions or {}}  # --reward-file again: the function, not a new term
        if any(split_weight(t)[1] not in given for t in terms or []):
            raise ValueError("--reward-term cannot change a resumed run: it keeps the terms it started with")
        run = project.store.resolve_run(resume)
        kind, terms = run.kind, run.config.get(TERMS_KEY)
    if not run_kind(kind).online:
        if terms or functions:
            raise ValueError(f"{run_kind(kind).label} takes no reward terms: only online runs maximise a reward")
        return []
    one_answer = not hasattr(config_class(kind)(), "samples_per_prompt")  # PPO: a judge term needs references
    checked = terms_for_run(project.store, terms, list(functions or {}), one_answer)
    if reward is not None and not uses_reward_model(checked):
        raise ValueError(f"no reward term uses the reward model, so --reward {reward} would not be used: add the "
                         "term rm or leave --reward out")
    return checked


def train(project: Project, base: SharedBase, kind: str, config=None, hooks: Hooks | None = None,
          resume: int | str | None = None, init: str | None = None, reward: str | None = None,
          terms: list[str] | None = None, functions: dict[str, RewardFunction] | None = None,
          start: str | None = None, warm: str | None = None) -> tuple[int, TrainResult]:
    """Run one engine as a stored run (or resume one); returns (run id, result). An online run's reward is made
    of `terms` (texts, `core.reward_terms`; the reward model alone without them) and the Python `functions`
    given with --reward-file (name -> function, never stored: a resume is given them again).

    `start` (online kinds): the policy goes on from that finished online run's adapter, while its own starting
    policy stays the reference (`init`, which must then be left out). `warm` (kinds that `warm_starts`): the
    engine starts from that finished run's weights instead of fresh ones."""
    store = project.store
    hooks = hooks or Hooks()
    if resume is not None:
        run = store.resolve_run(resume)
        check_data(project, run.kind)
        checked = check_terms(project, run.kind, terms, functions, resume=resume)
        lock = project.lock_run(run.id)  # refuses a run that another process is training
        kind, config = run.kind, config_of(run, resumed=True)
        init, reward = run.config.get("_init"), run.config.get("_reward")
        start, warm = run.config.get("_start"), run.config.get("_warm")
        run_id = run.id
        resumed_at = checkpoint_step(project.run_dir(run_id))
        store.forget_after(run_id, resumed_at)  # those steps run again
        forget_alarms_after(store, run_id, resumed_at)
        store.update_run(run_id, status="running", error="")
    else:
        config = with_device_lengths(config or config_class(kind)(), str(base.device))  # stored as it runs
        validate(config)
        check_data(project, kind)
        checked = check_terms(project, kind, terms, functions, reward=reward)
        start, warm = _continued(project, kind, start, init, warm)
        init = _default_init(project, kind, store.run(int(start)).config.get("_init") if start else init)
        init = policy_label(project, init) if init is not None else None  # stored resolved: a resume uses the same
        reward = _default_reward(project, kind, reward, checked)
        rounds = {k: v for k, v in (("_start", start), ("_warm", warm)) if v}  # only a round's runs have them
        stored = {**dataclasses.asdict(config), "_init": init, "_reward": reward, **rounds,
                  **_ranking_loss(project, kind, config)}
        if checked:
            stored[TERMS_KEY] = [t.text for t in checked]
        parent = int(start) if start else store.resolve_run(init).id if init not in (None, "base") else None
        run_id = store.create_run(kind, stored, parent=parent)
        lock = project.lock_run(run_id)
    run_dir = project.run_dir(run_id)
    recording = _recording_hooks(project, run_id, hooks)
    try:
        result = _dispatch(project, base, kind, config, run_dir, recording, resume is not None, init,
                           _reward(project, base, reward, checked, functions) if run_kind(kind).online else None,
                           start, warm)
    except torch.OutOfMemoryError:
        store.update_run(run_id, status="failed", error="out of memory: lower the batch size or the lengths")
        raise
    except Exception as exc:
        store.update_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        lock.release()
    store.update_run(run_id, status=result.status, step=result.step,
                     final_metrics=result.metrics or None,  # a resume that had no step left keeps its figures
                     artifact=project.relative_artifact(run_id, result.artifact) if result.artifact else None,
                     error=result.error or "")
    if kind == REWARD and result.status == "finished":
        result = _check_reward_run(project, base, run_id, result, hooks)
    return run_id, result


def _check_reward_run(project: Project, base: SharedBase, run_id: int, result: TrainResult, hooks: Hooks
                      ) -> TrainResult:
    """A finished reward run's closing checks: its held-out pairs scored (the numbers of its health report,
    core.rm_health), its ensemble fitted (even with nothing to guess: PPO and RLOO report its disagreement) and its
    guesses. A Stop inside them leaves the run cancelled at its last step, whole: its resume trains no step again,
    it only runs these checks."""
    try:
        with stops_inside(base, hooks.should_stop):
            score_reward_run(project, base, run_id, say=hooks.say)
            score_comparisons(project, base, unscored(project.store, run_id), str(run_id), say=hooks.say)
    except Cancelled:
        project.store.update_run(run_id, status="cancelled")
        return dataclasses.replace(result, status="cancelled", artifact=None)
    return result


def export_run(project: Project, run_ref: str, out_dir: Path, merged: bool = False, force: bool = False) -> Path:
    """Write a run's PEFT adapter folder, or the base with the adapter merged, as safetensors (`force`: into a
    folder that is not empty)."""
    out_dir = project.check_output(out_dir, force=force, folder=True)
    run = project.store.resolve_run(run_ref)
    if run.status != "finished" or not run.artifact:
        raise ValueError(f"run {run.id} has no finished adapter to export (status {run.status})")
    adapter = project.artifact_path(run)
    loaded = load_model(project.model_spec, device="cpu")
    identity = model_identity(project.model_spec)  # the local (cache) path stays out of exported files
    if not merged:
        shutil.copytree(adapter, out_dir, dirs_exist_ok=True)
        config = out_dir / "adapter_config.json"
        config.write_text(json.dumps({**json.loads(config.read_text(encoding="utf-8")),
                                      "base_model_name_or_path": identity}, indent=2), encoding="utf-8")
        heads = adapter.parent / "heads.safetensors"
        if heads.exists():
            shutil.copy2(heads, out_dir / "heads.safetensors")
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(loaded.model, adapter).merge_and_unload()
        model.config._name_or_path = identity
        model.save_pretrained(out_dir, safe_serialization=True)
    loaded.tokenizer.name_or_path = identity
    loaded.tokenizer.save_pretrained(out_dir)
    return out_dir


# -- internals -------------------------------------------------------------------------------------
def _dispatch(project, base, kind, config, run_dir, hooks, resume, init, reward, start=None, warm=None
              ) -> TrainResult:
    """Call `kind`'s engine the one way every engine is called: its data, config, folder and hooks; the starting
    policy for kinds that start from one; the reward (`reward`, a `TermReward`: its terms, the reward model with its
    ensemble, whose disagreement each round reports) for online kinds; in a round, the policy to go on from or the
    run to warm-start from (and, to an engine that takes `start_dir`, the folder of the run it goes on from)."""
    spec = run_kind(kind)
    engine = resolve(spec.engine)
    extra: dict[str, object] = {}
    if spec.starts_from_policy:
        extra["init_adapter"] = _load_init(project, base, init)
    if start:
        extra["policy_start"] = policy_adapter(project, base, start)
        if "start_dir" in inspect.signature(engine).parameters:
            extra["start_dir"] = project.artifact_path(project.store.run(int(start))).parent
    if warm:
        extra["warm_start"] = project.artifact_path(project.store.run(int(warm))).parent
    if spec.online:
        extra["reward"] = reward
    return engine(base, TRAINING_DATA[spec.learns_from](project.store), config, run_dir, hooks, resume=resume,
                  **extra)


def _load_init(project: Project, base: SharedBase, init: str | None) -> str | None:
    """Load the starting policy (an SFT run) as adapter "sft"; None starts from the base model."""
    if init in (None, "base"):
        return None
    run = project.store.resolve_run(init)
    base.load_adapter(SFT, project.artifact_path(run))
    return SFT


def _continued(project: Project, kind: str, start: str | None, init: str | None, warm: str | None
               ) -> tuple[str | None, str | None]:
    """The ids (as text) of the run a round's policy goes on from and the run it warm-starts from, both checked."""
    store, spec = project.store, run_kind(kind)
    if start is not None:
        run = store.resolve_run(start)
        if not spec.online or not run_kind(run.kind).online or not run.artifact or run.status != "finished":
            raise ValueError(f"run {run.id} ({run.kind}, {run.status}) is no finished online policy that a "
                             f"{spec.label} run can go on from")
        if init is not None:
            raise ValueError("a run that goes on from another keeps that run's reference: leave --init out")
        start = str(run.id)
    if warm is not None:
        run = store.resolve_run(warm)
        if not spec.warm_starts or run.kind != kind or not run.artifact or run.status != "finished":
            raise ValueError(f"run {run.id} ({run.kind}, {run.status}) is no finished {spec.label} run to "
                             "warm-start from")
        warm = str(run.id)
    return start, warm


def _default_init(project: Project, kind: str, init: str | None) -> str | None:
    if not run_kind(kind).starts_from_policy:
        return None
    if init is not None:
        return init
    return f"latest:{SFT}" if project.store.runs(SFT) and _has_finished(project, SFT) else "base"


def _reward(project: Project, base: SharedBase, reward: str | None, terms: list[Term],
            functions: dict[str, RewardFunction] | None) -> TermReward:
    """An online run's reward: its terms, the reward model (loaded when a term uses it), the reference answers."""
    model = OnlineReward.load(base, reward_dir(project, reward)) if reward else None
    judge = Judge(base) if any(t.source == JUDGE for t in terms) else None
    return TermReward(terms, model, {p.text: p.answer for p in project.store.prompts()}, dict(functions or {}),
                      judge)


def _default_reward(project: Project, kind: str, reward: str | None, terms: list[Term]) -> str | None:
    """The reward run of an online run whose terms use the reward model, stored resolved; else None."""
    if not run_kind(kind).online:
        return None
    if not uses_reward_model(terms):
        return None
    return str(project.store.resolve_run(reward or f"latest:{REWARD}").id)


def _has_finished(project: Project, kind: str) -> bool:
    return any(r.status == "finished" for r in project.store.runs(kind))


def config_of(run: Run, resumed: bool = False):
    """The settings a stored run trained with (defaults for any it did not store); `resumed`: with the loss it
    started with (`_ranking_loss`, else its `ranking_loss`, else pairs: a run from before the setting), so that
    labels added since change nothing."""
    cls = config_class(run.kind)
    names = {f.name for f in dataclasses.fields(cls)}
    config = cls(**{k: v for k, v in run.config.items() if k in names})
    if resumed and "ranking_loss" in names:
        loss = run.config.get(RANKING_LOSS_KEY, run.config.get("ranking_loss", "pairs"))
        config = dataclasses.replace(config, ranking_loss=loss)
    return config


def _ranking_loss(project: Project, kind: str, config) -> dict[str, str]:
    """{RANKING_LOSS_KEY: the loss} that a reward or DPO run learns with on the project's data
    (`preferences.ranking_loss_for`), stored beside its setting, which stays as chosen ("auto") for a copy of
    its settings or a round; {} for other kinds."""
    if not hasattr(config, "ranking_loss"):
        return {}
    data = TRAINING_DATA[run_kind(kind).learns_from](project.store)
    return {RANKING_LOSS_KEY: ranking_loss_for(config.ranking_loss, data)}


def _recording_hooks(project: Project, run_id: int, hooks: Hooks) -> Hooks:
    store = project.store
    watch = watch_run(store, run_id)  # the reward-hacking monitor of online runs

    def on_metrics(step: int, values: dict[str, float]) -> None:
        store.add_metrics(run_id, step, values)
        watch(step, values)
        hooks.metrics(step, values)

    def on_samples(step: int, rows: list[dict]) -> None:
        store.add_samples(run_id, step, rows)
        watch.samples(step, rows)
        hooks.samples(step, rows)

    return Hooks(on_metrics=on_metrics, should_stop=hooks.should_stop, on_samples=on_samples,
                 on_progress=hooks.on_progress, on_message=hooks.on_message)
