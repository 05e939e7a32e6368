"""`python -m studio ...`: the studio headless, on the same engines the GUI uses."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sqlite3
import sys
import typing
from pathlib import Path

from studio import cli_labels, cli_out
from studio.cli_labels import cmd_comparisons_export
from studio.cli_outputs import add_output, check_outputs
from studio.cli_ratings import add_ratings_commands, kto_note
from studio.core import import_export as io
from studio.core.answer_length import default_answer_tokens
from studio.core.held_out import held_out_report, metrics_line
from studio.core.jsonl import read_completions, read_prompts, write_jsonl
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.core.reward_terms import FILE_HELP, TERM_HELP, uses_reward_model
from studio.core.run_kinds import KINDS, REWARD, SFT, run_kind

TOKENS_HELP = (f"longest answer in tokens (default: {default_answer_tokens('cpu')} on a CPU, "
               f"{default_answer_tokens('mps')} on Apple MPS, {default_answer_tokens('cuda')} on CUDA)")


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


# -- project and data -------------------------------------------------------------------------------
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


def cmd_status(args) -> None:
    from studio.core.oversight_store import alarms

    store = Project.open(args.dir).store
    raised = alarms(store)
    runs = [{"id": r.id, "kind": r.kind, "status": r.status, "parent": r.parent, "step": r.step,
             "metrics": r.final_metrics, "error": r.error or None,
             "held_out": held_out_report(r.kind, r.final_metrics, r.config.get("eval_fraction", 0.0)),
             "alarms": [a.to_dict() for run_id, a in raised if run_id == r.id]} for r in store.runs()]
    labels = cli_labels.label_status(store)
    report = {**store.counts(), **Ratings(store).counts(), **labels, "runs": runs}
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        if key not in labels and key != "runs":
            print(f"{key:>16}: {value}")
    cli_labels.print_label_status(labels)
    for r in runs:
        shown = metrics_line(r["kind"], r["metrics"] or {}, limit=6)
        parent = f" from run {r['parent']}" if r["parent"] else ""
        print(f"run {r['id']:>3} {r['kind']:<6} {r['status']:<9} step {r['step']}{parent}  {shown}")
        if r["held_out"]:
            print(f"    {r['held_out']['note']}")
        for alarm in r["alarms"]:
            print(f"    alarm {alarm['signal']} since round {alarm['began']}: {alarm['message']}")
            print(f"      -> {alarm['action']}")


# -- model work ---------------------------------------------------------------------------------------
def _base(project: Project, args):
    import torch

    from studio.core.cpu_threads import torch_threads
    from studio.training.runs import open_base

    torch.set_num_threads(torch_threads())  # one per free core: beside a busy program, fewer waits between threads
    return open_base(project, device=args.device, progress=lambda msg: print(msg, file=sys.stderr))


@contextlib.contextmanager
def _bar_hooks(desc: str, unit: str = "step"):
    """Hooks that drive a tqdm progress bar on stderr and show the latest metrics; closed on the way out,
    so an error prints on its own line."""
    from tqdm import tqdm

    from studio.training.engine import Hooks

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def progress(step: int, total: int) -> None:
        bar.total = total
        bar.n = step
        bar.refresh()

    def metrics(step: int, values: dict[str, float]) -> None:
        keys = [k for k in ("loss", "reward", "kl", "accuracy", "eval_accuracy", "reward_accuracy") if k in values]
        bar.set_postfix({k: f"{values[k]:.3g}" for k in keys}, refresh=False)

    try:
        yield Hooks(on_metrics=metrics, on_progress=progress)
    finally:
        bar.close()


def cmd_generate(args) -> None:
    from studio.training.runs import default_sampling, generate_comparisons, policy_label

    project = Project.open(args.dir)
    if args.per_prompt < 2:  # before the model loads
        raise ValueError("a comparison needs at least 2 responses per prompt")
    _check_run(project, args.policy, reward=False)
    if not project.store.prompts_without_responses(policy_label(project, args.policy)):
        print("every prompt already has responses from this policy; nothing to do")
        return
    base = _base(project, args)
    sampling = default_sampling(base, **_tokens(args), temperature=args.temperature, seed=args.seed)
    with _bar_hooks("generating", unit="prompt") as hooks:
        made = generate_comparisons(project, base, args.per_prompt, args.policy, sampling, hooks)
    print(f"stored {len(made)} comparisons of {args.per_prompt} responses")


def _tokens(args) -> dict[str, int]:
    """--max-new-tokens as a sampling setting when given; absent, the device's default applies."""
    return {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}


def cmd_train(args) -> None:
    from studio.training.runs import check_data, check_terms, config_class, train
    from studio.training.term_rewards import command_line

    project = Project.open(args.dir)
    config = None
    if args.resume is not None and args.set:
        raise ValueError("--set cannot change a resumed run: it keeps the settings it started with")
    if args.resume is None:
        config = config_class(args.kind)()
        overrides = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr}
        if run_kind(args.kind).online:
            overrides["iterations"] = overrides.pop("steps")
        for key, value in overrides.items():
            if value is not None:
                setattr(config, key, value)
        apply_settings(config, args.set)
    if config is not None:
        from studio.training.configs import validate

        validate(config)  # before the model loads, so a typo costs no waiting
        if hasattr(config, "desirable_weight"):  # KTO's weights against the balance of good and bad ratings
            kto_note(project.store, config)
    terms, functions = command_line(getattr(args, "reward_term", None), getattr(args, "reward_file", None))
    checked = check_terms(project, args.kind, terms, functions, args.resume, getattr(args, "reward", None))
    _check_run_refs(project, args, uses_reward_model(checked))
    check_data(project, args.kind)
    base = _base(project, args)
    with _bar_hooks(f"train {args.kind}", unit="it" if run_kind(args.kind).online else "step") as hooks:
        run_id, result = train(project, base, args.kind, config, hooks, resume=args.resume,
                               init=getattr(args, "init", None), reward=getattr(args, "reward", None),
                               terms=terms, functions=functions)
    print(f"run {run_id} ({args.kind}) {result.status} at step {result.step}: "
          f"{metrics_line(args.kind, result.metrics)}")
    held = held_out_report(args.kind, result.metrics, project.store.run(run_id).config.get("eval_fraction", 0.0))
    if held:
        print(held["note"])
    if result.error:
        print(f"note: {result.error}", file=sys.stderr)
    return 0 if result.status in ("finished", "cancelled") else 1


def _check_run_refs(project: Project, args, uses_reward: bool = True) -> None:
    """Resolve every run that `train` names before the model loads, so a wrong one costs no waiting."""
    if args.resume is not None:
        run = project.store.resolve_run(args.resume)
        if run.kind != args.kind:
            raise ValueError(f"run {run.id} is a {run.kind} run: resume it with `train {run.kind} --resume {run.id}`")
        return
    if getattr(args, "init", None) is not None:
        _check_run(project, args.init, reward=False)
    if run_kind(args.kind).online and (uses_reward or args.reward):
        _check_run(project, args.reward or f"latest:{REWARD}", reward=True)


def _check_run(project: Project, ref: str, reward: bool) -> None:
    """Resolve a policy ("base" or a run that is not a reward model) or a reward model before the model loads."""
    if ref == "base" and not reward:
        return
    run = project.store.resolve_run(ref)
    if reward and run.kind != REWARD:
        raise ValueError(f"run {run.id} is a {run.kind} run, not a reward model")
    if not reward and run.kind == REWARD:
        raise ValueError(f"run {run.id} is a reward model, not a policy")


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


def cmd_sample(args) -> None:
    from studio.training.runs import default_sampling, sample

    project = Project.open(args.dir)
    prompts = [p.text for p in read_prompts(args.prompts)]
    _check_run(project, args.policy, reward=False)
    base = _base(project, args)
    sampling = default_sampling(base, **_tokens(args), temperature=args.temperature,
                                do_sample=args.temperature > 0, seed=args.seed)
    completions = sample(project, base, args.policy, prompts, sampling)
    write_jsonl(args.out, [{"prompt": p, "completion": c} for p, c in zip(prompts, completions)])
    print(f"wrote {len(completions)} completions to {args.out}")


def cmd_score(args) -> None:
    from studio.training.runs import reward_scorer

    project = Project.open(args.dir)
    out = args.out or args.file
    rows = read_completions(args.file)
    _check_run(project, args.reward, reward=True)
    scorer = reward_scorer(project, _base(project, args), args.reward)
    scores = scorer.normalised([r.prompt for r in rows], [r.completion for r in rows]).tolist()
    write_jsonl(out, [{**r.record, "reward": round(s, 6)} for r, s in zip(rows, scores)])
    print(f"scored {len(rows)} completions into {out}")


def cmd_export(args) -> None:
    from studio.training.runs import export_run

    if args.gguf:
        return cli_out.cmd_export_gguf(args)
    if not args.out:
        raise ValueError("export needs --out OUT_DIR (adapter or --merged) or --gguf OUT.gguf")

    out = export_run(Project.open(args.dir), args.run, Path(args.out), merged=args.merged, force=args.force)
    print(f"exported {'merged model' if args.merged else 'adapter'} to {out}")


# -- parser -----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studio", description=__doc__)
    sub = p.add_subparsers(metavar="COMMAND")

    def command(parent, name: str, func, help: str) -> argparse.ArgumentParser:
        c = parent.add_parser(name, help=help, description=help)
        c.set_defaults(func=func)
        return c

    def with_dir(c):
        c.add_argument("dir", metavar="DIR", help="the project folder")
        return c

    def with_device(c):
        c.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
        return c

    c = command(sub, "init", cmd_init, "Create a project folder (studio.db, runs/).")
    c.add_argument("dir", metavar="DIR")
    c.add_argument("--model", default="embedded", help="'embedded' (SmolLM2-135M), a model folder or a .gguf file")

    for noun, helptext, items in [
        ("demos", "Demonstrations: prompt + ideal response.", [
            ("import", cmd_demos_import, "Import demonstrations from JSONL: {prompt, completion} or {messages}."),
            ("export", cmd_demos_export, "Export demonstrations to JSONL.")]),
        ("prompts", "Prompts to generate responses for.", [
            ("import", cmd_prompts_import, "Import prompts from JSONL lines {\"prompt\": ...}.")]),
        ("comparisons", "Sets of generated responses waiting for a ranking.", [
            ("export", cmd_comparisons_export, "Export unranked comparisons {comparison_id, prompt, responses}.")]),
        ("rankings", "Rankings of comparisons.", [
            ("import", cmd_rankings_import, "Import rankings {comparison_id, ranking: [best..worst], annotator} "
                                            "or {comparison_id, skip: true}.")]),
        ("prefs", "Preference pairs in TRL's format {prompt, chosen, rejected}.", [
            ("import", cmd_prefs_import, "Import preference pairs (e.g. a public preference set)."),
            ("export", cmd_prefs_export, "Export one line per pair implied by the rankings.")]),
    ]:
        group = sub.add_parser(noun, help=helptext, description=helptext).add_subparsers(metavar="ACTION")
        for verb, func, h in items:
            c = with_dir(command(group, verb, func, h))
            if verb == "export":
                add_output(c, "file", metavar="FILE.jsonl")
            else:
                c.add_argument("file", metavar="FILE.jsonl")
            if noun == "demos" and verb == "export":
                c.add_argument("--format", choices=["completion", "messages"], default="completion")
            if noun == "comparisons":
                c.add_argument("--annotator", default=None, help="only those this annotator has not ranked")
                c.add_argument("--order", choices=["arrival", "uncertain"], default="arrival",
                               help="uncertain: those the latest reward model is least sure about first")
                with_device(c)

    add_ratings_commands(sub)

    c = with_device(with_dir(command(sub, "generate", cmd_generate,
                                     "Generate K responses for every prompt that has none from the policy.")))
    c.add_argument("--per-prompt", type=int, default=2, help="responses per prompt (K >= 2)")
    c.add_argument("--policy", default="base", help="base, a run id, or latest:KIND")
    c.add_argument("--max-new-tokens", type=int, default=None, help=TOKENS_HELP)
    c.add_argument("--temperature", type=float, default=0.8)
    c.add_argument("--seed", type=int, default=None)

    cli_labels.register(sub, command, with_dir, with_device)

    c = with_dir(command(sub, "status", cmd_status, "Counts of prompts, demonstrations, comparisons and runs."))
    c.add_argument("--json", action="store_true", help="print one JSON object")

    names = [k.label for k in KINDS.values()]
    names = f"{', '.join(names[:-1])} or {names[-1]}"
    train_p = sub.add_parser("train", help=f"Train {names}.",
                             description=f"Train {names} as a stored, resumable run.")
    kinds = train_p.add_subparsers(metavar="KIND")
    for kind in KINDS.values():
        c = with_device(with_dir(command(kinds, kind.name, cmd_train, kind.help)))
        c.set_defaults(kind=kind.name)
        c.add_argument("--steps", type=int, default=None,
                       help="optimizer steps instead of epochs (PPO, RLOO: iterations)")
        c.add_argument("--batch-size", type=int, default=None)
        c.add_argument("--lr", type=float, default=None)
        c.add_argument("--resume", default=None, metavar="RUN_ID", help="continue a stopped or crashed run")
        c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change any setting of the run, e.g. --set checkpoint_every=5 (repeatable; "
                            "booleans take true/false, optional numbers none; an unknown KEY lists the valid ones)")
        if kind.starts_from_policy:
            c.add_argument("--init", default=None, help=f"starting policy: a run, latest:{SFT} (default) or base")
        if kind.online:
            c.add_argument("--reward", default=None, help=f"reward model run (default latest:{REWARD})")
            c.add_argument("--reward-term", action="append", metavar="[WEIGHT*]TERM", help=TERM_HELP)
            c.add_argument("--reward-file", action="append", metavar="[WEIGHT*]PATH.py:FUNCTION", help=FILE_HELP)

    c = with_device(with_dir(command(sub, "sample", cmd_sample, "Write one completion per prompt from a policy.")))
    c.add_argument("--policy", default="base", help="base, a run id, or latest:KIND")
    c.add_argument("--prompts", required=True, metavar="FILE.jsonl", help="lines {\"prompt\": ...}")
    add_output(c, "--out", required=True, metavar="FILE.jsonl")
    c.add_argument("--max-new-tokens", type=int, default=None, help=TOKENS_HELP)
    c.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    c.add_argument("--seed", type=int, default=None)

    c = with_device(with_dir(command(sub, "score", cmd_score,
                                     "Add a reward-model score to each {prompt, completion} line.")))
    c.add_argument("file", metavar="FILE.jsonl")
    c.add_argument("--reward", default=f"latest:{REWARD}", help="reward model run")
    add_output(c, "--out", default=None, rewrites="file", help="write here instead of rewriting FILE")

    c = with_dir(command(sub, "export", cmd_export, "Export a run as a PEFT adapter, a merged safetensors model, "
                                                     "or a merged GGUF with an Ollama Modelfile."))
    c.add_argument("--run", required=True, help="run id or latest:KIND")
    add_output(c, "--out", folder=True, metavar="OUT_DIR")
    add_output(c, "--gguf", metavar="OUT.gguf", help="write the merged model as GGUF (+ Modelfile beside it)")
    c.add_argument("--type", choices=["f16", "q8_0"], default="f16", help="GGUF weight type (with --gguf)")
    c.add_argument("--merged", action="store_true", help="merge the adapter into the base weights")
    cli_out.register(sub, command, with_dir)

    from studio.cli_oversight import register

    register(sub, command, with_dir, with_device)
    return p
