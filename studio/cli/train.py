"""`train KIND DIR`: one command per run kind of the registry (`studio.core.run_kinds`), each with `--set KEY=VALUE`
for any setting of the kind's config, whose keys and help `train KIND --help` lists."""
from __future__ import annotations

import argparse
import dataclasses
import typing

from studio.cli.loading import bar_hooks, check_run, open_base, say
from studio.cli.parsing import command, group
from studio.core.held_out import held_out_report, metrics_line
from studio.core.project import Project
from studio.core.ratings import Ratings, kto_weight_advice
from studio.core.reward_terms import FILE_HELP, TERM_HELP, uses_reward_model
from studio.core.run_kinds import KINDS, REWARD, SFT, RunKind, run_kind
from studio.core.store import Store

SET_HELP = ("change any setting of the run, e.g. --set checkpoint_every=5 (repeatable; booleans take true/false, "
            "optional numbers none; the settings are listed below)")


def cmd_train(args) -> int:
    """Train a run of `args.kind` (or resume one); 0 when it finished or was cancelled, 1 otherwise."""
    from studio.training.runs import check_data, check_terms, train
    from studio.training.term_rewards import command_line, load_functions

    project = Project.open(args.dir)
    config = None if args.resume is not None else _config(project.store, args)
    terms, files = command_line(getattr(args, "reward_term", None), getattr(args, "reward_file", None))
    checked = check_terms(project, args.kind, terms, files, args.resume, getattr(args, "reward", None))
    _check_run_refs(project, args, uses_reward_model(checked))
    check_data(project, args.kind)
    functions = load_functions(files)  # the user's code runs only once the command has passed every check
    base = open_base(project, args.device)
    with bar_hooks(f"train {args.kind}", unit="it" if run_kind(args.kind).online else "step") as hooks:
        run_id, result = train(project, base, args.kind, config, hooks, resume=args.resume,
                               init=getattr(args, "init", None), reward=getattr(args, "reward", None),
                               terms=terms, functions=functions)
    print(f"run {run_id} ({args.kind}) {result.status} at step {result.step}: "
          f"{metrics_line(args.kind, result.metrics)}")
    held = held_out_report(args.kind, result.metrics, project.store.run(run_id).config.get("eval_fraction", 0.0))
    if held:
        print(held["note"])
    if result.error:
        say(f"note: {result.error}")
    return 0 if result.status in ("finished", "cancelled") else 1


def _config(store: Store, args):
    """The new run's settings: the kind's defaults, then --steps/--batch-size/--lr, then every --set; checked before
    the model loads, so a typo costs no waiting."""
    from studio.training.configs import config_class, validate

    config = config_class(args.kind)()
    overrides = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr}
    if run_kind(args.kind).online:
        overrides["iterations"] = overrides.pop("steps")
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    apply_settings(config, args.set)
    validate(config)
    if hasattr(config, "desirable_weight"):  # KTO's weights against the balance of good and bad ratings
        kto_note(store, config)
    return config


def kto_note(store: Store, config) -> None:
    """Say on stderr when the KTO weights do not suit the balance of good and bad ratings (as TRL warns)."""
    advice = kto_weight_advice(*Ratings(store).totals(), config.desirable_weight, config.undesirable_weight)
    if advice:
        say(f"note: {advice}")


def _check_run_refs(project: Project, args, uses_reward: bool = True) -> None:
    """Resolve every run that `train` names before the model loads, so a wrong one costs no waiting."""
    if args.resume is not None:
        if args.set:
            raise ValueError("--set cannot change a resumed run: it keeps the settings it started with")
        run = project.store.resolve_run(args.resume)
        if run.kind != args.kind:
            raise ValueError(f"run {run.id} is a {run.kind} run: resume it with `train {run.kind} --resume {run.id}`")
        return
    if getattr(args, "init", None) is not None:
        check_run(project, args.init, reward=False)
    if run_kind(args.kind).online and (uses_reward or args.reward):
        check_run(project, args.reward or f"latest:{REWARD}", reward=True)


def apply_settings(config, settings: list[str]) -> None:
    """Apply `--set KEY=VALUE` overrides to a config dataclass, checking each name and converting to its type."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    for item in settings:
        key, sep, text = item.partition("=")
        key, text = key.strip().replace("-", "_"), text.strip()
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        if key not in names:
            raise ValueError(f"unknown setting {key!r}: choose one of {', '.join(names)}")
        setattr(config, key, _setting_value(key, text, hints[key]))


def _setting_value(key: str, text: str, kind) -> object:
    """`text` as a value of type `kind`: int, float, bool, or one of them | None."""
    optional = type(None) in typing.get_args(kind)
    target = next(t for t in typing.get_args(kind) if t is not type(None)) if optional else kind
    if optional and text.lower() in ("none", "null"):
        return None
    if target is bool and text.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return text.lower() in ("true", "yes", "on", "1")
    if target is not bool:
        try:
            return target(text)
        except ValueError:
            pass
    wanted = {bool: "true or false", int: "a whole number", float: "a number"}.get(target, target.__name__)
    raise ValueError(f"setting {key} takes {wanted}{' or none' if optional else ''}, got {text!r}")


def settings_help(kind: str) -> str:
    """The `--set` keys of run kind `kind`, each with its default and the help its config field carries."""
    import textwrap

    from studio.training.configs import config_class

    lines = ["settings for --set KEY=VALUE:"]
    for f in dataclasses.fields(config_class(kind)):
        default = f.default if f.default is not dataclasses.MISSING else "-"
        lines.append(f"  {f.name} (default {default})")
        lines += textwrap.wrap(f.metadata.get("help", ""), 100, initial_indent=" " * 6, subsequent_indent=" " * 6,
                               break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines)


def _add_kind(kinds: argparse._SubParsersAction, kind: RunKind) -> None:
    c = command(kinds, kind.name, cmd_train, kind.help, device=True, epilog=settings_help(kind.name),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    c.set_defaults(kind=kind.name)
    c.add_argument("--steps", type=int, default=None, help="optimizer steps instead of epochs (PPO, RLOO: iterations)")
    c.add_argument("--batch-size", type=int, default=None)
    c.add_argument("--lr", type=float, default=None)
    c.add_argument("--resume", default=None, metavar="RUN_ID", help="continue a stopped or crashed run")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    if kind.starts_from_policy:
        c.add_argument("--init", default=None, help=f"starting policy: a run, latest:{SFT} (default) or base")
    if kind.online:
        c.add_argument("--reward", default=None, help=f"reward model run (default latest:{REWARD})")
        c.add_argument("--reward-term", action="append", metavar="[WEIGHT*]TERM", help=TERM_HELP)
        c.add_argument("--reward-file", action="append", metavar="[WEIGHT*]PATH.py:FUNCTION", help=FILE_HELP)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `train KIND` for every kind of the registry."""
    names = [k.label for k in KINDS.values()]
    names = f"{', '.join(names[:-1])} or {names[-1]}"
    kinds = group(sub, "train", f"Train {names}.", metavar="KIND",
                  description=f"Train {names} as a stored, resumable run.")
    for kind in KINDS.values():
        _add_kind(kinds, kind)
