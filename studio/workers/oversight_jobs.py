"""Jobs of the Oversight page that need the engines (judge, critique-and-revise, gold checks): each factory
returns a function run in a `Job`, so the page itself never imports torch."""
from __future__ import annotations

from collections.abc import Callable

from studio.workers.job import JobContext


def _judge(ctx: JobContext, spec: str):
    """The judge on the loaded model (adapters off), or on the model `spec` loaded for this job only."""
    from studio.training.judge import Judge
    from studio.training.models import load_model
    from studio.training.shared_base import SharedBase

    if spec:
        return Judge(SharedBase.from_loaded(load_model(spec, progress=ctx.say)))
    return Judge(ctx.base())


def judge_label_job(principle: str, judge_spec: str = "", limit: int | None = None) -> Callable[[JobContext], str]:
    def run(ctx: JobContext) -> str:
        from studio.training.judge import ai_annotator, label_with_judge

        count = label_with_judge(ctx.project.store, _judge(ctx, judge_spec), principle, limit, ctx.hooks)
        return (f"{ai_annotator(principle)} labelled {count.labelled} comparisons and abstained on "
                f"{count.abstained} (its two readings disagreed: those stay for you).")
    return run


def revise_job(principle: str, prompt: str, answer: str, judge_spec: str = "") -> Callable[[JobContext], tuple]:
    def run(ctx: JobContext) -> tuple[str, str]:
        return _judge(ctx, judge_spec).critique_and_revise(principle, prompt, answer)
    return run


def gold_job(run_id: int) -> Callable[[JobContext], int]:
    """Make gold checks from PPO run `run_id`'s latest round; returns how many were made."""
    def run(ctx: JobContext) -> int:
        from studio.training.gold import make_gold_checks

        return len(make_gold_checks(ctx.project, ctx.base(), str(run_id), hooks=ctx.hooks))
    return run
