"""Data commands: `init`, `demos`, `prompts`, `rankings`, `prefs` and `ratings` (JSONL in and out; ratings in
TRL's unpaired format {"prompt", "completion", "label"}), and `status`."""
from __future__ import annotations

import argparse
import json

from studio.cli.outputs import add_output
from studio.cli.parsing import command, group
from studio.cli.rounds import round_command
from studio.core import active
from studio.core import import_export as io
from studio.core.agreement import annotator_report
from studio.core.held_out import held_out_report, metrics_line
from studio.core.monitor import ROUND_SIGNALS, Alarm
from studio.core.project import Project
from studio.core.ratings import Ratings, export_ratings, import_ratings
from studio.core.rounds import offer
from studio.core.store import Store


def cmd_init(args) -> None:
    project = Project.init(args.dir, model=args.model)
    print(f"project ready at {project.root} (model: {project.model_spec})")


def cmd_demos_import(args) -> None:
    print(f"imported {io.import_demos(Project.open(args.dir).store, args.file)} demonstrations")


def cmd_demos_export(args) -> None:
    count = io.export_demos(Project.open(args.dir).store, args.file, fmt=args.format)
    print(f"exported {count} demonstrations")


def cmd_prompts_import(args) -> None:
    print(f"imported {io.import_prompts(Project.open(args.dir).store, args.file)} prompts")


def cmd_rankings_import(args) -> None:
    print(f"imported {io.import_rankings(Project.open(args.dir).store, args.file)} rankings")


def cmd_prefs_import(args) -> None:
    print(f"imported {io.import_prefs(Project.open(args.dir).store, args.file)} preference pairs")


def cmd_prefs_export(args) -> None:
    print(f"exported {io.export_prefs(Project.open(args.dir).store, args.file)} preference pairs")


def cmd_ratings_import(args) -> None:
    print(f"imported {import_ratings(Project.open(args.dir).store, args.file)} ratings")


def cmd_ratings_export(args) -> None:
    print(f"exported {export_ratings(Project.open(args.dir).store, args.file)} ratings")


def cmd_status(args) -> None:
    from studio.core.oversight_store import alarms

    store = Project.open(args.dir).store
    raised = alarms(store)
    runs = [{"id": r.id, "kind": r.kind, "status": r.status, "parent": r.parent, "step": r.step,
             "metrics": r.final_metrics, "error": r.error or None,
             "held_out": held_out_report(r.kind, r.final_metrics, r.config.get("eval_fraction", 0.0)),
             "alarms": [a.to_dict() for run_id, a in raised if run_id == r.id],
             "round": _round_offer(store, args.dir, r.id, [a for run_id, a in raised if run_id == r.id])}
            for r in store.runs()]
    labels = label_status(store)
    report = {**store.counts(), **Ratings(store).counts(), **labels, "runs": runs}
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        if key not in labels and key != "runs":
            print(f"{key:>16}: {value}")
    print_label_status(labels)
    for r in runs:
        shown = metrics_line(r["kind"], r["metrics"] or {}, limit=6)
        parent = f" from run {r['parent']}" if r["parent"] else ""
        print(f"run {r['id']:>3} {r['kind']:<6} {r['status']:<9} step {r['step']}{parent}  {shown}")
        if r["held_out"]:
            print(f"    {r['held_out']['note']}")
        for alarm in r["alarms"]:
            print(f"    alarm {alarm['signal']} since round {alarm['began']}: {alarm['message']}")
            print(f"      -> {alarm['action']}")
            if r["round"] and alarm["signal"] in ROUND_SIGNALS:
                print(f"      -> {_round_line(r['round'])}")


def _round_line(offered: dict) -> str:
    """What an alarm's round offer says under it: the one command to run, or why no round can go on now."""
    if offered["refused"]:
        return f"no round now: {offered['refused']}"
    what = "label what the policy writes now" if offered["action"] == "sample" else "train the round once ranked"
    return f"{what}: {offered['command']}"


def _round_offer(store: Store, root: str, run_id: int, raised: list[Alarm]) -> dict | None:
    """The round that run `run_id`'s alarms offer (None when none of them is one a round answers): {"action",
    "command", "refused"}."""
    if not any(a.signal in ROUND_SIGNALS for a in raised):
        return None
    found = offer(store, run_id)
    return {"action": found.action, "command": round_command(root, run_id, found.action), "refused": found.refused}


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


FILES = [  # (noun, its help, [(verb, command, its help)]): each takes DIR FILE.jsonl
    ("demos", "Demonstrations: prompt + ideal response.", [
        ("import", cmd_demos_import, "Import demonstrations from JSONL: {prompt, completion} or {messages}."),
        ("export", cmd_demos_export, "Export demonstrations to JSONL.")]),
    ("prompts", "Prompts to generate responses for.", [
        ("import", cmd_prompts_import, "Import prompts from JSONL lines {\"prompt\": ...}.")]),
    ("rankings", "Rankings of comparisons.", [
        ("import", cmd_rankings_import, "Import rankings {comparison_id, ranking: [best..worst], annotator} "
                                        "or {comparison_id, skip: true}.")]),
    ("prefs", "Preference pairs in TRL's format {prompt, chosen, rejected}.", [
        ("import", cmd_prefs_import, "Import preference pairs (e.g. a public preference set)."),
        ("export", cmd_prefs_export, "Export one line per pair implied by the rankings.")]),
    ("ratings", 'Answers rated good or bad one at a time, in TRL\'s format {"prompt", "completion", "label"}.', [
        ("import", cmd_ratings_import, 'Import ratings: lines {"prompt", "completion", "label": true|false, '
                                       '"annotator" (optional)}; the whole file is checked first.'),
        ("export", cmd_ratings_export, "Export every rating, one TRL unpaired line each (for TRL's KTOTrainer).")]),
]


def register(sub: argparse._SubParsersAction) -> None:
    """Add `init`, the JSONL commands of FILES and `status`."""
    c = command(sub, "init", cmd_init, "Create a project folder (studio.db, runs/).")
    c.add_argument("--model", default="embedded", help="'embedded' (SmolLM2-135M), a model folder or a .gguf file")
    for noun, about, verbs in FILES:
        actions = group(sub, noun, about)
        for verb, func, h in verbs:
            c = command(actions, verb, func, h)
            if verb == "export":
                add_output(c, "file", metavar="FILE.jsonl")
            else:
                c.add_argument("file", metavar="FILE.jsonl")
            if noun == "demos" and verb == "export":
                c.add_argument("--format", choices=["completion", "messages"], default="completion")
    c = command(sub, "status", cmd_status, "Counts of prompts, demonstrations, comparisons and runs.")
    c.add_argument("--json", action="store_true", help="print one JSON object")
