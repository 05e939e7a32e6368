"""Job commands: `job export` (the project's data and settings as a TRL / OpenRLHF job folder) and `runs import`
(an adapter trained elsewhere back as a finished run)."""
from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli.loading import say
from studio.cli.outputs import add_output
from studio.cli.parsing import command, group
from studio.core.project import Project
from studio.core.run_kinds import KINDS, REWARD, SFT, kinds


def cmd_job_export(args) -> None:
    from studio.training.job_export import export_job

    count = export_job(Project.open(args.dir), args.kind, Path(args.out), init=args.init, reward=args.reward,
                       say=say)
    print(f"wrote a {args.kind} job with {count} examples to {args.out} (see its README.md; run launch.sh)")


def cmd_runs_import(args) -> None:
    from studio.core.run_import import import_run

    def fold(init_run: int, adapter_dir: Path) -> None:
        from studio.training.job_export import fold_init_adapter

        say(f"Folding run {init_run}'s adapter into the imported one…")
        fold_init_adapter(project, init_run, adapter_dir)

    project = Project.open(args.dir)
    run_id = import_run(project, args.folder, kind=args.kind, fold=fold)
    print(f"imported {args.folder} as run {run_id}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `job export` and `runs import`."""
    c = command(group(sub, "job", "Jobs for distributed engines (TRL, OpenRLHF)."), "export", cmd_job_export,
                "Write the project's data and settings as a TRL job (OpenRLHF for PPO) with launch.sh and a README.")
    c.add_argument("--kind", required=True, choices=list(KINDS))
    add_output(c, "--out", folder=True, force=False, required=True, metavar="JOBDIR",
               help="a new folder (or an empty one)")
    c.add_argument("--init", default=None, help=f"starting policy for {'/'.join(kinds(starts_from_policy=True))}: a "
                                                f"run, latest:{SFT} or base (default latest:{SFT} when there is one)")
    c.add_argument("--reward", default=f"latest:{REWARD}",
                   help=f"reward run for {' and '.join(kinds(online=True))} (when the newest run of the kind has a "
                        "reward-model term; its rule terms become the job's reward functions)")
    c = command(group(sub, "runs", "Runs trained elsewhere."), "import", cmd_runs_import,
                "Import a LoRA adapter folder (e.g. JOBDIR/output) as a finished run.")
    c.add_argument("folder", metavar="FOLDER")
    c.add_argument("--kind", default=None, help="the run's kind when there is no job.json beside FOLDER")
