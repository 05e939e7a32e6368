"""The one way a CLI command is declared: each group's `register(sub)` adds its commands with `command` (and
`group` for a word with actions under it, such as `demos import`)."""
from __future__ import annotations

import argparse
from collections.abc import Callable

DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, mps"


def command(sub: argparse._SubParsersAction, name: str, func: Callable, help: str, *, project: bool = True,
            device: bool = False, **parser_kw) -> argparse.ArgumentParser:
    """Add command `name` running `func(args)`; with `project` its first argument is the project folder DIR, with
    `device` it takes --device."""
    c = sub.add_parser(name, help=help, description=help, **parser_kw)
    c.set_defaults(func=func)
    if project:
        c.add_argument("dir", metavar="DIR", help="the project folder")
    if device:
        c.add_argument("--device", default="auto", help=DEVICE_HELP)
    return c


def group(sub: argparse._SubParsersAction, name: str, help: str, metavar: str = "ACTION",
          **parser_kw) -> argparse._SubParsersAction:
    """Add the word `name` whose commands follow it (`pack export`, `train sft`)."""
    return sub.add_parser(name, help=help, description=parser_kw.pop("description", help),
                          **parser_kw).add_subparsers(metavar=metavar)


def count_arg(text: str) -> int:
    """An argparse type for "at most this many" options: a whole number, 0 or more."""
    value = int(text) if text.isdecimal() else None  # "-1", "two", "1.5" all fail here
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more (got {text!r})")
    return value
