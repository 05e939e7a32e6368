"""Oversight commands of the CLI: the reward model's health report, rule and AI labellers, principles,
critique-and-revise and gold checks."""
from __future__ import annotations

import argparse
import json

from studio.cli.loading import open_base
from studio.cli.outputs import add_output
from studio.cli.parsing import command, count_arg, group
from studio.core import oversight_store as ov
from studio.core.jsonl import write_jsonl
from studio.core.project import Project
from studio.core.run_kinds import REWARD, kinds


def _filled(args, *names: str) -> None:
    """Refuse an empty or blank --NAME among `names` before the model loads."""
    for name in names:
        if not getattr(args, name).strip():
            raise ValueError(f"--{name} is empty: write the {name} the judge should work with")


def cmd_rm_report(args) -> None:
    from studio.core.rm_health import report_text
    from studio.training.rm_scoring import reward_report

    project = Project.open(args.dir)
    report = reward_report(project, args.reward, lambda: open_base(project, args.device))
    print(json.dumps(report.to_dict()) if args.json else report_text(report))


def cmd_label_rule(args) -> None:
    from studio.core.rules import Rule, label_with_rule

    rule = Rule.parse(args.rule)
    labelled, left = label_with_rule(Project.open(args.dir).store, rule, args.limit)
    print(f"{rule.annotator} labelled {labelled} comparisons; {left} left alone (the rule cannot tell them apart)")


def cmd_label_ai(args) -> None:
    from studio.training.judge import Judge, label_with_judge

    project = Project.open(args.dir)
    _filled(args, "principle")
    judge = Judge(open_base(project, args.device, args.judge))
    ov.add_principle(project.store, args.principle)  # once the judge is there to apply it
    count = label_with_judge(project.store, judge, args.principle, args.limit)
    total = count.labelled + count.abstained
    print(f"ai:{args.principle.strip()} labelled {count.labelled} of {total} comparisons; abstained on "
          f"{count.abstained} (the two orders disagreed: they stay for people)")


def cmd_agreement(args) -> None:
    from studio.core.agreement import machine_pairs, ranking_labels
    from studio.core.ai_feedback import agreements

    store = Project.open(args.dir).store
    alphas = {(p["a"], p["b"]): p["alpha"] for p in machine_pairs({"rankings": ranking_labels(store)})}
    rows = [{**vars(a), "alpha": alphas.get((a.machine, a.human))} for a in agreements(store.rankings())]
    if args.json:
        print(json.dumps(rows))
        return
    if not rows:
        print("no comparison is ranked both by a person and by a rule or AI labeller yet")
    for a in rows:
        alpha = "-" if a["alpha"] is None else f"{a['alpha']:+.3f}"
        print(f"{a['machine']} vs {a['human']}: {a['agreement']:.0%} same best answer, Krippendorff's alpha {alpha} "
              f"on {a['shared']} comparisons")


def cmd_principles(args) -> None:
    store = Project.open(args.dir).store
    if args.add:
        print(f"principle {ov.add_principle(store, args.add)} stored")
    for id, text in ov.principles(store):
        print(f"{id:>3}  {text}")


def cmd_revise(args) -> None:
    from studio.training.judge import Judge

    project = Project.open(args.dir)
    _filled(args, "principle", "prompt", "answer")
    critique, revision = Judge(open_base(project, args.device, args.judge)).critique_and_revise(
        args.principle, args.prompt, args.answer)
    print(f"critique: {critique}\nrevision: {revision}")
    if args.save:
        print(f"saved as demonstration {project.store.add_demo(args.prompt, revision)}")


def cmd_gold_export(args) -> None:
    from studio.training.gold import make_gold_checks

    project = Project.open(args.dir)
    run = project.store.resolve_run(args.run)
    made = make_gold_checks(project, open_base(project, args.device), str(run.id), args.round)
    checks = {g.comparison_id: g for g in ov.gold_checks(project.store, run.id)}
    todo = [c for c in project.store.unranked_comparisons(args.annotator) if c.id in checks]
    count = write_jsonl(args.file, ({"comparison_id": c.id, "prompt": c.prompt, "responses": c.responses,
                                     "run": checks[c.id].run_id, "round": checks[c.id].round} for c in todo))
    print(f"made {len(made)} gold comparisons; exported {count} unranked ones of run {run.id} to {args.file}")


def cmd_gold_import(args) -> None:
    from studio.core.gold import gold_curve
    from studio.core.import_export import import_rankings
    from studio.core.jsonl import read_rankings

    store = Project.open(args.dir).store
    gold = {g.comparison_id: g.run_id for g in ov.gold_checks(store)}
    lines = read_rankings(args.file)
    stray = [line.line for line in lines if line.comparison_id not in gold]
    if stray:
        raise ValueError(f"{args.file}: line {stray[0]} ranks a comparison that is not a gold check")
    print(f"imported {import_rankings(store, args.file)} gold rankings")
    for run_id in sorted({gold[line.comparison_id] for line in lines}):
        for p in gold_curve(store, run_id):
            print(f"run {run_id} round {p.round}: policy wins {p.gold_win_rate:.0%} of {p.judged} · "
                  f"reward-model score {p.proxy_reward:+.2f}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `rm-report`, `label rule|ai`, `agreement`, `principles`, `revise` and `gold export|import`."""
    c = command(sub, "rm-report", cmd_rm_report, "Reward-model health: held-out accuracy, calibration (ECE, Brier), "
                "score histograms, length correlation and the pairs it gets most wrong.", device=True)
    c.add_argument("--reward", default=f"latest:{REWARD}", help=f"reward model run (id or latest:{REWARD})")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    label = group(sub, "label", "Let a rule or an AI judge rank comparisons.", metavar="BY")
    c = command(label, "rule", cmd_label_rule, "Rank comparisons by a rule (annotator rule:<rule>).")
    c.add_argument("--rule", required=True, help="longer, shorter, contains:PHRASE, avoids:PHRASE or regex:PATTERN")
    c.add_argument("--limit", type=count_arg, default=None)
    c = command(label, "ai", cmd_label_ai, "Rank comparisons with a judge model by a principle, reading each pair "
                "in both orders; kept only when both agree (annotator ai:<principle>).", device=True)
    c.add_argument("--principle", required=True)
    c.add_argument("--judge", default=None, help="a model folder or .gguf (default: the project's model)")
    c.add_argument("--limit", type=count_arg, default=None)
    c = command(sub, "agreement", cmd_agreement, "How often each rule / AI labeller agrees with each person (same "
                "best answer; Krippendorff's alpha over the places).")
    c.add_argument("--json", action="store_true")
    c = command(sub, "principles", cmd_principles, "List the project's principles (or add one).")
    c.add_argument("--add", default=None, metavar="TEXT")
    c = command(sub, "revise", cmd_revise, "Critique an answer against a principle and rewrite it (Constitutional "
                "AI).", device=True)
    for name in ("principle", "prompt", "answer"):
        c.add_argument(f"--{name}", required=True)
    c.add_argument("--judge", default=None, help="a model folder or .gguf (default: the project's model)")
    c.add_argument("--save", action="store_true", help="store the revision as a demonstration")

    gold = group(sub, "gold", "Gold checks: rank what PPO writes against the SFT answers.")
    c = command(gold, "export", cmd_gold_export, "Pair a PPO round's answers with the starting policy's and export "
                "them.", device=True)
    add_output(c, "file", metavar="FILE.jsonl")
    gold_kind = kinds(gold_checks=True)[0]
    c.add_argument("--run", default=f"latest:{gold_kind}", help=f"PPO run (id or latest:{gold_kind})")
    c.add_argument("--round", type=int, default=None, help="the round (default: its last)")
    c.add_argument("--annotator", default=None, help="only those this annotator has not ranked")
    c = command(gold, "import", cmd_gold_import, "Import rankings of gold comparisons and print the gold-vs-proxy "
                "curve.")
    c.add_argument("file", metavar="FILE.jsonl")
