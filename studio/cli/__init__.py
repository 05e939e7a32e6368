"""`python -m studio ...`: the studio headless, on the same engines the GUI uses.

One module per command group, each adding its commands with `register(sub)` (`studio.cli.parsing`); every path a
command writes is declared with `outputs.add_output` and checked here before the command runs."""
from __future__ import annotations

import argparse
import sqlite3
import sys

from studio.cli import data, jobs, labels, models, oversight, rounds, train
from studio.cli.outputs import check_outputs

GROUPS = (data, labels, train, models, jobs, oversight, rounds)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, assembled from each group's `register`."""
    p = argparse.ArgumentParser(prog="python -m studio", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(metavar="COMMAND")
    for commands in GROUPS:
        commands.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        check_outputs(args)  # every path a command writes, before it starts
        return args.func(args) or 0
    except KeyError as exc:  # an id that names nothing: say so, not a bare "99"
        return _error(f"{exc.args[0] if exc.args else exc} was not found in this project: the input names "
                      "something the project does not hold")
    # bad input, unknown runs, unreadable projects; RuntimeError covers model loading and out of memory
    except (ValueError, LookupError, RuntimeError) as exc:
        return _error(str(exc))
    except OSError as exc:  # a file or folder that cannot be read or written
        where = f" {exc.filename}" if exc.filename else ""
        return _error(f"cannot use{where}: {exc.strerror or exc}")
    except sqlite3.Error as exc:
        return _error(f"the database of {getattr(args, 'dir', 'the project')} cannot be read ({exc}): it is "
                      "damaged; restore studio.db from a backup or try `sqlite3 studio.db .recover`")


def _error(message: str) -> int:
    """Print `message` as the one `error:` line on stderr; return the exit code 1."""
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return 1
