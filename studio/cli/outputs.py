"""Every file or folder a CLI command writes is declared here with `add_output`, and `check_outputs` runs the one
output check (`Project.check_output`) on all of them before the command starts: a writing command cannot skip it.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from studio.core.output import Occupied
from studio.core.project import Project

FORCE_HELP = "replace an existing file, or write into a folder that is not empty (never a project, model or database)"


@dataclass(frozen=True)
class Output:
    """One written path of a command: the argument's `dest`, whether it names a folder, and the input argument
    rewritten in place when this one is left out (`score FILE` without --out)."""

    dest: str
    folder: bool = False
    rewrites: str | None = None


def add_output(c: argparse.ArgumentParser, *names: str, folder: bool = False, rewrites: str | None = None,
               force: bool = True, **kwargs) -> argparse.Action:
    """Add an argument that names a written path to command `c`, recorded in its `outputs` default; with `force`,
    also the command's `--force` (once)."""
    action = c.add_argument(*names, **kwargs)
    c.set_defaults(outputs=(*(c.get_default("outputs") or ()), Output(action.dest, folder, rewrites)))
    if force and c.get_default("force") is None:
        c.add_argument("--force", action="store_true", help=FORCE_HELP)
    return action


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, with one line, any path the command would write that the output check refuses."""
    outputs = getattr(args, "outputs", ())
    if not outputs:
        return
    project = Project.open(args.dir)
    force = getattr(args, "force", None)  # None: the command offers no --force
    try:
        for out in outputs:
            path = getattr(args, out.dest)
            if path is not None:
                project.check_output(path, force=bool(force), folder=out.folder)
            elif out.rewrites is not None:
                project.check_output(getattr(args, out.rewrites), force=bool(force), rewrite=True)
    except Occupied as e:
        if force is None:
            raise
        raise Occupied(f"{e}, or add --force") from None
