"""How late a 20 ms QTimer fires on the GUI thread while a job runs through the GUI's Job.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_responsiveness.py --kind sft   # embedded SmolLM2
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_responsiveness.py --model tiny  # seconds

One child process per variant: a temporary project seeded with prompts, demos and rankings plus finished
tiny SFT and reward runs (tests/ui/seed.py), the real MainWindow on a StudioContext (offscreen), the
model loaded by the window's own job. A precise 20 ms QTimer records each tick's lateness (gap - 20 ms),
first for `--idle-s` seconds with nothing running, then while `--kind` (sft, reward, dpo, ppo, or compare:
a streamed answer) runs as a Job on the context with the engine's default settings except its length.
Variants: "studio" (the torch threads the studio sets: every core but one) and "torch_default" (all cores).
Goal: p99 <= 16 ms and max <= 50 ms during the job.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (child_main, common_args, run_variants)  # noqa: E402
GOAL_P99_MS = 16.0
GOAL_MAX_MS = 50.0
TICK_MS = 20


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--kind", default="ppo", choices=["sft", "reward", "dpo", "ppo", "compare"])
    p.add_argument("--iterations", type=int, default=2, help="PPO iterations (default 2)")
    p.add_argument("--steps", type=int, default=6, help="SFT/reward/DPO steps (default 6)")
    p.add_argument("--new-tokens", type=int, default=0, help="PPO/compare max new tokens (0: the default)")
    p.add_argument("--idle-s", type=float, default=3.0, help="seconds measured before training starts")
    p.add_argument("--project", help="seed the project here, or reuse it when an earlier run seeded it (seeding "
                                     "trains tiny SFT and reward runs, minutes on the embedded model)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    return p


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def job_for(args: argparse.Namespace):
    """The job `--kind` names, with the engine's defaults but its length."""
    from studio.workers.model_jobs import stream_job, train_job

    tokens = {"max_new_tokens": args.new_tokens} if args.new_tokens else {}
    if args.kind == "compare":
        return stream_job("base", "How can I stay focused while studying?", **tokens)
    if args.kind == "ppo":
        return train_job("ppo", {"iterations": args.iterations, **tokens})
    return train_job(args.kind, {"steps": args.steps})


def gui(args: argparse.Namespace, threads: int | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if threads:
        os.environ["STUDIO_TORCH_THREADS"] = str(threads)
    os.environ["STUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-gui-config-")
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.core.project import Project
    from studio.ui.context import StudioContext
    from studio.ui.main_window import MainWindow
    from tests.ui.seed import seed_data, seed_runs

    root = Path(args.project or Path(tempfile.mkdtemp(prefix="bench-gui-")) / "project")
    if not (root / ".bench-seeded").exists():
        project = Project.init(root, model=args.model_dir)
        seed_data(project.store)
        project.close()
        seed_runs(root)
        (root / ".bench-seeded").touch()

    app = QApplication.instance() or QApplication([sys.argv[0]])
    ctx = StudioContext(root, device=args.device)
    window = MainWindow(ctx)
    window.show()
    loop = QEventLoop()
    ctx.model_changed.connect(lambda _info: loop.quit())
    ctx.error.connect(lambda text: (print("error:", text, file=sys.stderr), loop.quit()))
    loop.exec()  # the window's own model-loading job

    lateness: dict[str, list[float]] = {"idle": [], "job": []}
    state = {"phase": "idle", "last": time.perf_counter()}

    def tick() -> None:
        now = time.perf_counter()
        lateness[state["phase"]].append(max(0.0, (now - state["last"]) * 1000 - TICK_MS))
        state["last"] = now

    timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
    timer.timeout.connect(tick)
    state["last"] = time.perf_counter()
    timer.start()
    QTimer.singleShot(int(args.idle_s * 1000), loop.quit)
    loop.exec()

    outcome: dict = {}
    probe = ctx.run(_threads)  # the torch threads a job's thread trains with
    probe.finished.connect(lambda n: (outcome.update(threads=n), loop.quit()))
    probe.start()
    loop.exec()
    job = ctx.run(job_for(args))
    job.finished.connect(lambda result: (outcome.update(result), loop.quit()))
    job.failed.connect(lambda text: (outcome.update(failed=text), loop.quit()))
    job.cancelled.connect(loop.quit)
    state["phase"] = "job"
    t0 = time.perf_counter()
    job.start()
    loop.exec()
    train_s = time.perf_counter() - t0
    timer.stop()
    ctx.shutdown()
    window.close()
    app.processEvents()
    if "failed" in outcome:
        raise RuntimeError(outcome["failed"])
    out = {"job_s": train_s, "status": outcome.get("status", "ok"), "torch_threads": outcome["threads"]}
    for phase, xs in lateness.items():
        out[phase] = {"ticks": len(xs), "p50_ms": percentile(xs, 50), "p99_ms": percentile(xs, 99),
                      "max_ms": max(xs) if xs else float("nan")}
    return out


def _threads(jc) -> int:
    import torch

    jc.base()
    return torch.get_num_threads()


VARIANTS = {"studio": gui, "torch_default": lambda a: gui(a, threads=os.cpu_count())}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    res = run_variants(Path(__file__), args, args.variants.split(","),
                       f"GUI responsiveness: {args.kind} on {args.model}, {args.device}")
    lines = [f"### {TICK_MS} ms QTimer lateness on the GUI thread during {args.kind}", "",
             "| variant | torch threads | p50 (ms) | p99 (ms) | max (ms) | idle p99 (ms) | ticks | job (s) | goal |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in res.items():
        job, idle = r["job"], r["idle"]
        met = job["p99_ms"] <= GOAL_P99_MS and job["max_ms"] <= GOAL_MAX_MS
        lines.append(f"| {name} | {r['torch_threads']} | {job['p50_ms']:.3g} | {job['p99_ms']:.3g} | "
                     f"{job['max_ms']:.3g} | {idle['p99_ms']:.3g} | {job['ticks']} | {r['job_s']:.3g} | "
                     f"{'met' if met else 'NOT met'} |")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
