"""What the pages ask of the engines, as job functions: thin wrappers over `studio.training.runs` (and the GGUF
export, the model finder) that a `Job` runs off the GUI thread, so no page imports torch."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from studio.core import rounds as plan
from studio.core.answer_length import default_answer_tokens
from studio.workers.job import JobContext


def load_model_job(ctx: JobContext) -> dict:
    ctx.base()
    return dict(ctx.host.info)


def generate_job(per_prompt: int, policy: str = "base", limit: int | None = None, **sampling) -> Callable:
    """Generate comparisons (`runs.generate_comparisons`); `max_new_tokens=None` picks `default_answer_tokens`
    for the model's device."""
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


def round_job(run_id: int, action: str) -> Callable:
    """The round after online run `run_id`: "sample" it (gold checks and mixed comparisons at the head of the Rank
    queue) or "train" it (the reward model warm-started on every label, then the policy on from the run)."""
    def run(ctx: JobContext) -> dict:
        from studio.training import rounds

        if action == "sample":
            plan.check_sample(ctx.project.store, ctx.project.store.run(run_id))  # before the model loads
            made = rounds.prepare_round(ctx.project, ctx.base(), str(run_id), hooks=ctx.hooks)
            return {"run_id": run_id, "status": "sampled", "step": 0, "metrics": {}, "error": None,
                    "note": f"Round after run {run_id}: {len(made.gold)} gold checks and {len(made.comparisons)} "
                            f"comparisons of {made.per_prompt} answers ({made.flagged} on prompts its alarms flagged, "
                            "first) wait at the head of the Rank queue; rank them, then train the round."}
        rounds.check_trainable(ctx.project, ctx.project.store.run(run_id))  # before the model loads
        reward_id, reward, policy_id, result = rounds.train_round(ctx.project, ctx.base(), str(run_id), ctx.hooks)
        done = result or reward
        return {"run_id": policy_id or reward_id, "status": done.status, "step": done.step, "metrics": done.metrics,
                "error": done.error}
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


def export_run_job(run: str, out_dir: Path, merged: bool) -> Callable:
    """Export run `run` as its adapter, or merged into the base, to the folder the user picked."""
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
        from studio.core.recent import recent_projects

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
