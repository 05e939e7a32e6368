"""CLI commands that take the studio's work elsewhere and bring it back: GGUF export (`export --gguf`),
`job export` (TRL / OpenRLHF job folders) and `runs import`."""
from __future__ import annotations

import sys
from pathlib import Path

from studio.core.jobs import JOB_KINDS
from studio.core.project import Project


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_export_gguf(args) -> None:
    from studio.training.gguf_export import export_gguf

    out = export_gguf(Project.open(args.dir), args.run, Path(args.gguf), qtype=args.type, progress=_say)
    print(f"exported {args.type} GGUF to {out} and an Ollama Modelfile to {out.parent / 'Modelfile'}")


def cmd_job_export(args) -> None:
    from studio.training.job_export import export_job

    count = export_job(Project.open(args.dir), args.kind, Path(args.out), init=args.init, reward=args.reward,
                       say=_say)
    print(f"wrote a {args.kind} job with {count} examples to {args.out} (see its README.md; run launch.sh)")


def cmd_runs_import(args) -> None:
    from studio.core.run_import import import_run

    def fold(init_run: int, adapter_dir: Path) -> None:
        from studio.training.job_export import fold_init_adapter

        _say(f"Folding run {init_run}'s adapter into the imported one…")
        fold_init_adapter(project, init_run, adapter_dir)

    project = Project.open(args.dir)
    run_id = import_run(project, args.folder, kind=args.kind, fold=fold)
    print(f"imported {args.folder} as run {run_id}")


def register(sub, command, with_dir) -> None:
    """Add `job export` and `runs import` to the CLI's subcommands."""
    group = sub.add_parser("job", help="Jobs for distributed engines (TRL, OpenRLHF).").add_subparsers(metavar="ACTION")
    c = with_dir(command(group, "export", cmd_job_export, "Write the project's data and settings as a TRL job "
                                                          "(OpenRLHF for PPO) with launch.sh and a README."))
    c.add_argument("--kind", required=True, choices=JOB_KINDS)
    c.add_argument("--out", required=True, metavar="JOBDIR", help="a new folder")
    c.add_argument("--init", default=None, help="starting policy for dpo/kto/rloo/ppo: a run, latest:sft or base "
                                                "(default latest:sft when there is one)")
    c.add_argument("--reward", default="latest:reward", help="reward run for rloo and ppo")
    group = sub.add_parser("runs", help="Runs trained elsewhere.").add_subparsers(metavar="ACTION")
    c = with_dir(command(group, "import", cmd_runs_import, "Import a LoRA adapter folder (e.g. JOBDIR/output) "
                                                           "as a finished run."))
    c.add_argument("folder", metavar="FOLDER")
    c.add_argument("--kind", default=None, help="the run's kind when there is no job.json beside FOLDER")
