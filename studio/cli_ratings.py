"""`ratings import|export`: one-key ratings in TRL's unpaired format {"prompt", "completion", "label"}."""
from __future__ import annotations

import argparse
import sys

from studio.cli_outputs import add_output
from studio.core.project import Project
from studio.core.ratings import Ratings, export_ratings, import_ratings, kto_weight_advice
from studio.core.store import Store


def cmd_ratings_import(args) -> None:
    print(f"imported {import_ratings(Project.open(args.dir).store, args.file)} ratings")


def cmd_ratings_export(args) -> None:
    print(f"exported {export_ratings(Project.open(args.dir).store, args.file)} ratings")


def kto_note(store: Store, config) -> None:
    """Say on stderr when the KTO weights do not suit the balance of good and bad ratings (as TRL warns)."""
    advice = kto_weight_advice(*Ratings(store).totals(), config.desirable_weight, config.undesirable_weight)
    if advice:
        print(f"note: {advice}", file=sys.stderr)


def add_ratings_commands(sub: argparse._SubParsersAction) -> None:
    """Register `ratings import DIR FILE` and `ratings export DIR FILE`."""
    helptext = 'Answers rated good or bad one at a time, in TRL\'s format {"prompt", "completion", "label"}.'
    group = sub.add_parser("ratings", help=helptext, description=helptext).add_subparsers(metavar="ACTION")
    for verb, func, h in [
        ("import", cmd_ratings_import, 'Import ratings: lines {"prompt", "completion", "label": true|false, '
                                       '"annotator" (optional)}; the whole file is checked first.'),
        ("export", cmd_ratings_export, "Export every rating, one TRL unpaired line each (for TRL's KTOTrainer)."),
    ]:
        c = group.add_parser(verb, help=h, description=h)
        c.set_defaults(func=func)
        c.add_argument("dir", metavar="DIR", help="the project folder")
        if verb == "export":
            add_output(c, "file", metavar="FILE.jsonl")
        else:
            c.add_argument("file", metavar="FILE.jsonl")
