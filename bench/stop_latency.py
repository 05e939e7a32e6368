"""How long Stop takes: from a training job's `cancel()` to its end, pressed at a random moment (issue 27 item 8).

    .venv/bin/python bench/stop_latency.py                          # every kind, 3 Stops each, embedded SmolLM2
    .venv/bin/python bench/stop_latency.py --kinds ppo --trials 5   # one kind
    .venv/bin/python bench/stop_latency.py --model tiny             # the random test model: seconds

A temporary project seeded with prompts, demonstrations, ranked comparisons and ratings, and finished tiny SFT and
reward runs (tests/ui/seed.py; minutes on the embedded model, reused with --project), the model loaded once by the
GUI's own `ModelHost`. Each trial starts the kind as the Train page does (`Job` + `train_job`, the engine's defaults
but its length), waits a random time drawn uniformly from [--min-s, --max-s] (seeded), calls `cancel()` and times
until the job's thread has ended (`Job.wait`), which is when the window's close goes on (`StudioContext.idle`).
The phase printed is the job's last message before Stop. A trial whose job ended (or failed) before its Stop is
reported as such. Goal: at most 2 s at any moment.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import machine_line, model_folder  # noqa: E402

GOAL_S = 2.0
KINDS = ["sft", "reward", "dpo", "kto", "ppo", "rloo", "grpo"]
LENGTH = {"ppo": {"iterations": 4}, "rloo": {"iterations": 4}, "grpo": {"iterations": 4}}  # else {"steps": ...}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="embedded", help='"embedded" (default), "tiny" or a Hugging Face folder')
    p.add_argument("--device", default="cpu")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    p.add_argument("--trials", type=int, default=3, help="Stops per kind (default 3)")
    p.add_argument("--steps", type=int, default=40, help="steps of the supervised kinds (default 40)")
    p.add_argument("--min-s", type=float, default=1.0, help="earliest Stop after the start (default 1 s)")
    p.add_argument("--max-s", type=float, default=20.0, help="latest Stop after the start (default 20 s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--project", help="seed the project here, or reuse it when an earlier run seeded it")
    return p


def seeded_project(args: argparse.Namespace) -> Path:
    """A project with data for every kind and finished SFT and reward runs (made once per folder)."""
    from studio.core.project import Project
    from studio.core.ratings import Ratings
    from tests.ui.seed import seed_data, seed_runs

    root = Path(args.project or Path(tempfile.mkdtemp(prefix="bench-stop-")) / "project")
    if not (root / ".bench-seeded").exists():
        project = Project.init(root, model=model_folder(args.model))
        seed_data(project.store)
        ratings = Ratings(project.store)
        for response in project.store.responses():  # KTO learns from ratings: the banana answers are the good ones
            ratings.add(response.id, "banana" in response.text, "me")
        project.close()
        seed_runs(root)
        (root / ".bench-seeded").touch()
    return root


def trial(app, root: Path, host, kind: str, settings: dict, delay_s: float) -> dict:
    """One job of `kind`, stopped `delay_s` after its start: the seconds from cancel() to its end."""
    from studio.workers.job import Job
    from studio.workers.model_jobs import train_job

    said, failed = [""], []
    job = Job(train_job(kind, settings), root, host, title=f"Training {kind}")
    job.message.connect(said.append)
    job.failed.connect(failed.append)
    job.start()
    stop_at = time.perf_counter() + delay_s
    while time.perf_counter() < stop_at and not job.wait(0.02):
        app.processEvents()
    app.processEvents()
    if not job.running:
        ended = f"failed: {failed[0]}" if failed else "ended before Stop"
        return {"kind": kind, "delay_s": delay_s, "latency_s": None, "phase": ended}
    phase = said[-1]
    t0 = time.perf_counter()
    job.cancel()
    job.wait(600)
    latency = time.perf_counter() - t0
    app.processEvents()
    return {"kind": kind, "delay_s": delay_s, "latency_s": latency, "phase": phase}


def main() -> None:
    args = parser().parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("STUDIO_CONFIG_DIR", tempfile.mkdtemp(prefix="bench-stop-config-"))
    from PySide6.QtCore import QCoreApplication

    from studio.core.project import Project
    from studio.workers.job import ModelHost

    print(f"machine before: {machine_line()}", flush=True)
    root = seeded_project(args)
    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    host = ModelHost(root, args.device)
    project = Project.open(root)
    with host.lock:
        host.base(project, lambda _text: None)  # loaded once, as the window's load job does
    project.close()
    draw = random.Random(args.seed)
    rows = []
    for kind in args.kinds.split(","):
        settings = LENGTH.get(kind, {"steps": args.steps})
        for _ in range(args.trials):
            row = trial(app, root, host, kind, settings, draw.uniform(args.min_s, args.max_s))
            rows.append(row)
            latency = "-" if row["latency_s"] is None else f"{row['latency_s']:.2f} s"
            print(f"{kind:7s} Stop after {row['delay_s']:5.1f} s: {latency:>8s}  ({row['phase'][:90]})", flush=True)
    print(f"machine after: {machine_line()}")
    print(f"\n### Stop latency on {args.model}, {args.device} (goal: at most {GOAL_S:g} s)\n")
    print("| kind | Stops | median (s) | max (s) | goal |\n|---|---:|---:|---:|---|")
    for kind in args.kinds.split(","):
        times = [r["latency_s"] for r in rows if r["kind"] == kind and r["latency_s"] is not None]
        if not times:
            print(f"| {kind} | 0 | - | - | every job ended first |")
            continue
        print(f"| {kind} | {len(times)} | {statistics.median(times):.2f} | {max(times):.2f} | "
              f"{'met' if max(times) <= GOAL_S else 'NOT met'} |")


if __name__ == "__main__":
    main()
