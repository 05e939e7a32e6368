"""`ratings import|export`: one-key ratings in TRL's unpaired format {"prompt", "completion", "label"}."""
from __future__ import annotations

import argparse

from studio.core.project import Project
from studio.core.ratings import export_ratings, import_ratings


def cmd_ratings_import(args) -> None:
    print(f"imported {import_ratings(Project.open(args.dir).store, args.file)} ratings")


def cmd_ratings_export(args) -> None:
    print(f"exported {export_ratings(Project.open(args.dir).store, args.file)} ratings")


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
        c.add_argument("file", metavar="FILE.jsonl")
