"""Headless labelling: unranked comparisons most informative first, agreement in `status`, guidelines."""
from __future__ import annotations

import argparse
import sys

from studio.cli_outputs import add_output
from studio.core import active, packs
from studio.core.agreement import annotator_report
from studio.core.jsonl import read_text, write_jsonl
from studio.core.project import Project
from studio.core.store import Store

GUIDELINES_MAX_BYTES = 1 << 20  # a long handbook is a few dozen KiB


def count_arg(text: str) -> int:
    """An argparse type for "at most this many" options: a whole number, 0 or more."""
    value = int(text) if text.isdecimal() else None  # "-1", "two", "1.5" all fail here
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more (got {text!r})")
    return value


def _ensure_guesses(project: Project, args) -> None:
    """For --order uncertain: have the latest reward model guess every unranked comparison (loads the model)."""
    run_id = active.latest_reward_run(project.store)
    if args.order == "uncertain" and run_id is None:
        print("note: no finished reward model yet, so the comparisons come in arrival order", file=sys.stderr)
    elif args.order == "uncertain" and active.unscored(project.store, run_id):
        from studio.training.runs import open_base
        from studio.training.uncertainty import score_unranked

        base = open_base(project, device=args.device, progress=lambda msg: print(msg, file=sys.stderr))
        print(f"reward model guessed {score_unranked(project, base)} new comparisons", file=sys.stderr)


def cmd_comparisons_export(args) -> None:
    """Export unranked comparisons in arrival order or, with --order uncertain, the least sure first
    (guessing, with the model loaded, any comparison the latest reward model has not guessed yet)."""
    project = Project.open(args.dir)
    store = project.store
    _ensure_guesses(project, args)
    by_id = active.guesses(store)
    records = []
    for c in active.queue(store, args.annotator, args.order):
        record = {"comparison_id": c.id, "prompt": c.prompt, "responses": c.responses}
        if args.order == "uncertain" and c.id in by_id:
            g = by_id[c.id]
            record["reward_model"] = {"p_first": round(g.p_first, 4), "spread": round(g.spread, 4),
                                      "unsure": g.unsure}
        records.append(record)
    print(f"exported {write_jsonl(args.file, records)} unranked comparisons")


def label_status(store: Store) -> dict:
    """The `status` fields on labels: how many comparisons the reward model is unsure about, and agreement."""
    return {"unsure": active.unsure_count(store), "agreement": annotator_report(store)}


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:.3f}"


def print_label_status(status: dict) -> None:
    report = status["agreement"]
    alpha = report["alpha"]
    print(f"{'unsure':>16}: {status['unsure']}")
    print(f"{'alpha':>16}: rankings {_fmt(alpha['rankings'])}, ratings {_fmt(alpha['ratings'])} "
          f"(Krippendorff, ordinal, between people)")
    for a in report["annotators"]:
        pace = "-" if a["labels_per_hour"] is None else f"{a['labels_per_hour']:.0f}/h"
        print(f"annotator {a['name']}: {a['rankings']} rankings, {a['ratings']} ratings, self-consistency "
              f"{_fmt(a['self_consistency'], True)} of {a['self_repeats']}, with the reward model "
              f"{_fmt(a['reward_model_agreement'], True)} of {a['reward_model_n']}, {pace}")
    for p in report["pairs"]:
        print(f"pair {p['a']} / {p['b']}, {p['kind']}: alpha {_fmt(p['alpha'])} on {p['shared']} shared items")
    for p in report["machines"]:
        print(f"labeller {p['a']} vs {p['b']}, {p['kind']}: alpha {_fmt(p['alpha'])} on {p['shared']} shared items")


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


def register(sub, command, with_dir, with_device) -> None:
    """Add the `guidelines` and `pack` commands to the CLI."""
    c = with_dir(command(sub, "guidelines", cmd_guidelines, "Show or set the project's labelling guidelines."))
    c.add_argument("--set", default=None, metavar="FILE.md", help="replace the guidelines with this file's text")
    about = "Labelling packs: rank and rate on another computer (no model needed), merge the labels back."
    group = sub.add_parser("pack", help=about, description=about).add_subparsers(metavar="ACTION")
    c = with_device(with_dir(command(group, "export", cmd_pack_export,
                                     "Write unranked comparisons, unrated answers and the guidelines into one pack file.")))
    add_output(c, "--out", required=True, metavar="FILE", help="the pack file to write")
    c.add_argument("--count", type=count_arg, default=None, help="at most this many comparisons")
    c.add_argument("--answers", type=count_arg, default=None,
                   help="at most this many answers nobody has rated, besides those of the comparisons (default all)")
    c.add_argument("--order", choices=["arrival", "uncertain"], default="arrival",
                   help="uncertain: those the latest reward model is least sure about first")
    c = with_dir(command(group, "import", cmd_pack_import,
                         "Merge a pack's labels back (by content; importing twice adds nothing)."))
    c.add_argument("file", metavar="FILE")
