"""The answers a project's policies write: comparisons to rank (K answers a prompt, stored as they come, in calls
that grow) and single samples; a policy is "base" or a run (id or latest:KIND) whose adapter is loaded on the
shared base. Split from `runs`, which names these as before."""
from __future__ import annotations

import dataclasses

from studio.core.active import latest_reward_run, prompts_by_uncertainty
from studio.core.answer_length import default_answer_tokens
from studio.core.project import Project
from studio.core.run_kinds import REWARD
from studio.training.engine import Hooks
from studio.training.generation import SamplingConfig, generate, generate_answers
from studio.training.precision import wants_bf16
from studio.training.shared_base import SharedBase
from studio.training.uncertainty import score_unranked

# Sequences per generate call when making comparisons: FIRST_BATCH, FIRST_BATCH again, then doubling up to
# GENERATION_BATCH. Decoding one token reads every weight whatever the batch, so 32 sequences write 1.8x the
# answers/s of 8 on a CPU (bench/RESULTS.md section 21); starting small keeps the first comparisons coming quickly,
# and the second call must end before a fast ranker is through the first call's: on bf16 weights, 1 thread, 8
# sequences took 4.1 s and 16 took 5.1 s, against the 6 s the first 4 comparisons last at 1.5 s a decision
# (bench/fast_ranker.py: 1.7 s to spare at the tightest call, RESULTS.md section 32). The first prompt is not
# answered alone: on a CPU no later call could land within a fast ranker's first decision (section 21).
FIRST_BATCH, GENERATION_BATCH = 8, 32


def policy_adapter(project: Project, base: SharedBase, policy: str) -> str | None:
    """Load the adapter of run `policy` (id or latest:KIND) for generation; "base" means no adapter."""
    if policy == "base":
        return None
    run = project.store.resolve_run(policy)
    if run.kind == REWARD:
        raise ValueError(f"run {run.id} is a reward model, not a policy")
    name = f"run{run.id}"
    if name not in base.adapters():
        base.load_adapter(name, project.artifact_path(run))
    return name


def policy_label(project: Project, policy: str) -> str:
    """The stored name of a policy: "base" or the resolved run id as text."""
    return "base" if policy == "base" else str(project.store.resolve_run(policy).id)


def default_sampling(base: SharedBase, **settings) -> SamplingConfig:
    """`SamplingConfig(**settings)` whose answer length, unless given, is the default of the model's device
    (`core.answer_length`: short on a CPU, where every token of every answer costs)."""
    settings.setdefault("max_new_tokens", default_answer_tokens(str(base.device)))
    return SamplingConfig(**settings)


def generate_comparisons(project: Project, base: SharedBase, per_prompt: int, policy: str = "base",
                         sampling: SamplingConfig | None = None, hooks: Hooks | None = None,
                         limit: int | None = None) -> list[int]:
    """K responses for every prompt that has none from `policy` (`limit` prompts at most), each set stored as one
    comparison, in calls that grow (`generation_chunks`); without `sampling`, the default answer length of the
    model's device (`default_sampling`). An answer cut at the limit mid-sentence is stored as such. Decoded on
    bf16 weights where the device multiplies bf16 natively (`wants_bf16`): 1.7x faster on the embedded model on
    a CPU, the answers as likely under the float32 model (RESULTS.md section 32)."""
    if per_prompt < 2:
        raise ValueError("a comparison needs at least 2 responses per prompt")
    hooks, sampling = hooks or Hooks(), sampling or default_sampling(base)
    store = project.store
    label = policy_label(project, policy)
    todo = prompts_by_uncertainty(store, store.prompts_without_responses(label))[:limit]
    made: list[int] = []
    settings = dataclasses.asdict(sampling)
    done = 0
    with base.use(policy_adapter(project, base, policy)) as model, base.bf16_decoding(wants_bf16(None, base)):
        for chunk in generation_chunks(todo, per_prompt):
            if hooks.stop_requested():
                break
            answers = generate_answers(model, base.tokenizer, [p.text for p in chunk], sampling,
                                       num_return_sequences=per_prompt, batch_size=GENERATION_BATCH,
                                       should_stop=hooks.should_stop)  # checked between tokens: a cancel is quick
            with store.transaction():
                for prompt, texts in zip(chunk, answers):
                    ids = [store.add_response(prompt.id, a.text, label, settings, cut=a.cut) for a in texts]
                    made.append(store.add_comparison(prompt.id, ids))
            done += len(answers)
            hooks.progress(done, len(todo))
    if made and latest_reward_run(store) is not None:
        score_unranked(project, base)  # the new comparisons join the "most informative first" queue
    return made


def generation_chunks(todo: list, per_prompt: int) -> list[list]:
    """Batches of prompts of FIRST_BATCH sequences, FIRST_BATCH again, then doubling up to GENERATION_BATCH."""
    first, largest = max(1, FIRST_BATCH // per_prompt), max(1, GENERATION_BATCH // per_prompt)
    chunks, start, size = [], 0, first
    while start < len(todo):
        chunks.append(todo[start:start + size])
        start, size = start + size, size if len(chunks) == 1 else min(2 * size, largest)
    return chunks


def sample(project: Project, base: SharedBase, policy: str, prompts: list[str],
           sampling: SamplingConfig | None = None, hooks: Hooks | None = None) -> list[str]:
    """One completion per prompt from `policy` (greedy, at the device's default answer length, by default)."""
    hooks, sampling = hooks or Hooks(), sampling or default_sampling(base, do_sample=False, temperature=0)
    with base.use(policy_adapter(project, base, policy)) as model:
        return [a[0] for a in generate(model, base.tokenizer, prompts, sampling, should_stop=hooks.should_stop,
                                       on_progress=hooks.on_progress)]
