"""Oversight commands of the CLI: the reward model's health report, rule and AI labellers, gold checks."""
from __future__ import annotations

import json
import sys

from studio.core.project import Project


def cmd_rm_report(args) -> None:
    from studio.core.rm_health import report_text
    from studio.training.rm_scoring import reward_report
    from studio.training.runs import open_base

    project = Project.open(args.dir)
    report = reward_report(project, args.reward, lambda: open_base(
        project, device=args.device, progress=lambda msg: print(msg, file=sys.stderr)))
    print(json.dumps(report.to_dict()) if args.json else report_text(report))


def register(sub, command, with_dir, with_device) -> None:
    """Add the oversight subcommands to the CLI's parser (`command`, `with_*` as in `cli.build_parser`)."""
    c = with_device(with_dir(command(sub, "rm-report", cmd_rm_report,
                                     "Reward-model health: held-out accuracy, calibration (ECE, Brier), score "
                                     "histograms, length correlation and the pairs it gets most wrong.")))
    c.add_argument("--reward", default="latest:reward", help="reward model run (id or latest:reward)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
