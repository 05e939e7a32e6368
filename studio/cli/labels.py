"""Labelling commands: `generate` (comparisons to rank), `comparisons export` (most informative first on
request), `guidelines` and `pack` (label on another computer, merge back)."""
from __future__ import annotations

import argparse

from studio.cli.loading import TOKENS_HELP, bar_hooks, check_run, open_base, say, tokens
from studio.cli.outputs import add_output
from studio.cli.parsing import command, count_arg, group
from studio.core import active, packs
from studio.core.import_export import export_comparisons
from studio.core.jsonl import read_text
from studio.core.project import Project

GUIDELINES_MAX_BYTES = 1 << 20  # a long handbook is a few dozen KiB
ORDER_HELP = "uncertain: those the latest reward model is least sure about first"


def cmd_generate(args) -> None:
    from studio.training.runs import default_sampling, generate_comparisons, policy_label

    project = Project.open(args.dir)
    if args.per_prompt < 2:  # before the model loads
        raise ValueError("a comparison needs at least 2 responses per prompt")
    check_run(project, args.policy, reward=False)
    if not project.store.prompts_without_responses(policy_label(project, args.policy)):
        print("every prompt already has responses from this policy; nothing to do")
        return
    base = open_base(project, args.device)
    sampling = default_sampling(base, **tokens(args), temperature=args.temperature, seed=args.seed)
    with bar_hooks("generating", unit="prompt") as hooks:
        made = generate_comparisons(project, base, args.per_prompt, args.policy, sampling, hooks)
    print(f"stored {len(made)} comparisons of {args.per_prompt} responses")


def _ensure_guesses(project: Project, args) -> None:
    """For --order uncertain: have the latest reward model guess every unranked comparison (loads the model)."""
    run_id = active.latest_reward_run(project.store)
    if args.order == "uncertain" and run_id is None:
        say("note: no finished reward model yet, so the comparisons come in arrival order")
    elif args.order == "uncertain" and active.unscored(project.store, run_id):
        from studio.training.uncertainty import score_unranked

        say(f"reward model guessed {score_unranked(project, open_base(project, args.device))} new comparisons")


def cmd_comparisons_export(args) -> None:
    """Export unranked comparisons in arrival order or, with --order uncertain, the least sure first
    (guessing, with the model loaded, any comparison the latest reward model has not guessed yet)."""
    project = Project.open(args.dir)
    _ensure_guesses(project, args)
    count = export_comparisons(project.store, args.file, args.annotator, args.order)
    print(f"exported {count} unranked comparisons")


def cmd_guidelines(args) -> None:
    """Print the project's labelling guidelines, or replace them with a Markdown file's text."""
    store = Project.open(args.dir).store
    if args.set is None:
        print(active.guidelines(store))
        return
    active.set_guidelines(store, read_text(args.set, GUIDELINES_MAX_BYTES, "guidelines file"))
    print(f"guidelines set from {args.set}")


def cmd_pack_export(args) -> None:
    project = Project.open(args.dir)
    _ensure_guesses(project, args)
    packed = packs.export_pack(project.store, args.out, count=args.count, order=args.order, answers=args.answers)
    print(f"packed {packed.comparisons} comparisons, {packed.answers} more answers to rate and the guidelines "
          f"into {args.out}")


def cmd_pack_import(args) -> None:
    result = packs.import_pack(Project.open(args.dir).store, args.file)
    print(f"imported {result.rankings} rankings, {result.ratings} ratings and {result.repeats} repeats from {args.file}"
          + (f" ({result.skipped} already there)" if result.skipped else ""))


def register(sub: argparse._SubParsersAction) -> None:
    """Add `generate`, `comparisons export`, `guidelines` and `pack export|import`."""
    c = command(sub, "generate", cmd_generate, "Generate K responses for every prompt that has none from the policy.",
                device=True)
    c.add_argument("--per-prompt", type=int, default=2, help="responses per prompt (K >= 2)")
    c.add_argument("--policy", default="base", help="base, a run id, or latest:KIND")
    c.add_argument("--max-new-tokens", type=int, default=None, help=TOKENS_HELP)
    c.add_argument("--temperature", type=float, default=0.8)
    c.add_argument("--seed", type=int, default=None)

    c = command(group(sub, "comparisons", "Sets of generated responses waiting for a ranking."), "export",
                cmd_comparisons_export, "Export unranked comparisons {comparison_id, prompt, responses}.", device=True)
    add_output(c, "file", metavar="FILE.jsonl")
    c.add_argument("--annotator", default=None, help="only those this annotator has not ranked")
    c.add_argument("--order", choices=["arrival", "uncertain"], default="arrival", help=ORDER_HELP)

    c = command(sub, "guidelines", cmd_guidelines, "Show or set the project's labelling guidelines.")
    c.add_argument("--set", default=None, metavar="FILE.md", help="replace the guidelines with this file's text")
    actions = group(sub, "pack", "Labelling packs: rank and rate on another computer (no model needed), merge the "
                                 "labels back.")
    c = command(actions, "export", cmd_pack_export,
                "Write unranked comparisons, unrated answers and the guidelines into one pack file.", device=True)
    add_output(c, "--out", required=True, metavar="FILE", help="the pack file to write")
    c.add_argument("--count", type=count_arg, default=None, help="at most this many comparisons")
    c.add_argument("--answers", type=count_arg, default=None,
                   help="at most this many answers nobody has rated, besides those of the comparisons (default all)")
    c.add_argument("--order", choices=["arrival", "uncertain"], default="arrival", help=ORDER_HELP)
    c = command(actions, "import", cmd_pack_import, "Merge a pack's labels back (by content; importing twice adds "
                                                     "nothing).")
    c.add_argument("file", metavar="FILE")
