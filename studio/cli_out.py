"""CLI commands that take the studio's work elsewhere and bring it back: GGUF export (`export --gguf`),
`job export` (TRL / OpenRLHF job folders), `runs import`, and `models` (local models found on this machine)."""
from __future__ import annotations

import sys
from pathlib import Path

from studio.cli_outputs import add_output
from studio.core.project import Project
from studio.core.run_kinds import KINDS, REWARD, SFT, kinds


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_export_gguf(args) -> None:
    from studio.training.gguf_export import export_gguf

    out = export_gguf(Project.open(args.dir), args.run, Path(args.gguf), qtype=args.type, progress=_say,
                      force=args.force)
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


def cmd_models(args) -> None:
    import json

    from studio.training.model_support import local_models
    from studio.ui.recent import recent_projects

    found = local_models(recent_projects())
    if args.json:
        print(json.dumps(found))
        return
    if not found:
        print("no models found in the Hugging Face cache, LM Studio, Ollama or recent projects")
    for m in found:
        params = f"{m['params'] / 1e6:,.0f}M" if m["params"] else "?"
        print(f"{m['name']:<48} {m['source']:<9} {m['architecture']:<22} {params:>8} "
              f"{m['size_bytes'] / 2**20:>9,.0f} MB  {m['verdict']}\n{'':<4}{m['path']}")


def register(sub, command, with_dir) -> None:
    """Add `job export` and `runs import` to the CLI's subcommands."""
    group = sub.add_parser("job", help="Jobs for distributed engines (TRL, OpenRLHF).").add_subparsers(metavar="ACTION")
    c = with_dir(command(group, "export", cmd_job_export, "Write the project's data and settings as a TRL job "
                                                          "(OpenRLHF for PPO) with launch.sh and a README."))
    c.add_argument("--kind", required=True, choices=list(KINDS))
    add_output(c, "--out", folder=True, force=False, required=True, metavar="JOBDIR",
               help="a new folder (or an empty one)")
    c.add_argument("--init", default=None, help=f"starting policy for {'/'.join(kinds(starts_from_policy=True))}: a "
                                                f"run, latest:{SFT} or base (default latest:{SFT} when there is one)")
    c.add_argument("--reward", default=f"latest:{REWARD}", help=f"reward run for {' and '.join(kinds(online=True))}")
    group = sub.add_parser("runs", help="Runs trained elsewhere.").add_subparsers(metavar="ACTION")
    c = with_dir(command(group, "import", cmd_runs_import, "Import a LoRA adapter folder (e.g. JOBDIR/output) "
                                                           "as a finished run."))
    c.add_argument("folder", metavar="FOLDER")
    c.add_argument("--kind", default=None, help="the run's kind when there is no job.json beside FOLDER")
    c = command(sub, "models", cmd_models, "List local models (Hugging Face cache, LM Studio, Ollama, recent "
                                           "projects) and whether the studio can train them here.")
    c.add_argument("--json", action="store_true", help="print one JSON list")
