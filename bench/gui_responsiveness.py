"""How late a 20 ms QTimer fires on the GUI thread while a job runs through the real window.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_responsiveness.py --kind all   # every kind, embedded
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_responsiveness.py --kind sft --model tiny  # seconds

One child process per kind and variant, on one temporary project seeded once with prompts, demos, rankings
and ratings plus finished tiny SFT and reward runs (tests/ui/seed.py), the real MainWindow on a StudioContext
(offscreen), the model loaded by the window's own job. A precise 20 ms QTimer records each tick's lateness
(gap - 20 ms), first for `--idle-s` seconds with nothing running, then while `--kind` runs: a training kind
(sft, reward, dpo, kto, ppo, rloo, grpo; "all": each in turn) is started from the Train page, shown, with the
form's defaults except the run's length, so its live charts, samples table and progress line all draw;
"compare" streams one answer as a Job. Variants: "studio" (the torch threads the studio sets: every core but
one; the default) and "torch_default" (all cores). Goal: p99 <= 16 ms and max <= 50 ms during the job; the
table gives the load average before and after each kind.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import child_main, common_args, forward_args, machine_line, model_folder, run_child  # noqa: E402

GOAL_P99_MS = 16.0
GOAL_MAX_MS = 50.0
TICK_MS = 20
TRAIN_KINDS = ("sft", "reward", "dpo", "kto", "ppo", "rloo", "grpo")
ONLINE_KINDS = ("ppo", "rloo", "grpo")


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--kind", default="all", choices=[*TRAIN_KINDS, "compare", "all"],
                   help="the job to measure; all (the default): every training kind in turn")
    p.add_argument("--iterations", type=int, default=2, help="PPO/RLOO/GRPO iterations (default 2)")
    p.add_argument("--steps", type=int, default=6, help="SFT/reward/DPO/KTO steps (default 6)")
    p.add_argument("--new-tokens", type=int, default=0,
                   help="PPO/RLOO/GRPO/compare max new tokens (0: the default)")
    p.add_argument("--idle-s", type=float, default=3.0, help="seconds measured before training starts")
    p.add_argument("--project", help="seed the project here, or reuse it when an earlier run seeded it (seeding "
                                     "trains tiny SFT and reward runs, minutes on the embedded model)")
    p.add_argument("--variants", default="studio", help=f"comma-separated, of {', '.join(VARIANTS)}")
    return p


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def prepare_job(args: argparse.Namespace, window, ctx) -> Callable[[], object]:
    """What starts the job `--kind` names (called when the measurement starts; returns the Job): a training kind
    from the Train page, shown and set up here (the form's defaults but the run's length), "compare" as a
    streamed answer."""
    from studio.ui.main_window import PAGES
    from studio.workers.model_jobs import stream_job

    tokens = {"max_new_tokens": args.new_tokens} if args.new_tokens else {}
    if args.kind == "compare":
        return lambda: ctx.run(stream_job("base", "How can I stay focused while studying?", **tokens)).start()
    page = window.tabs.widget(PAGES.index("Train"))
    window.tabs.setCurrentWidget(page)
    page.set_kind(args.kind)
    page.form.set_values({"iterations": args.iterations, **tokens} if args.kind in ONLINE_KINDS
                         else {"steps": args.steps})

    def start():
        job = page.start()
        if job is None:
            raise RuntimeError(f"the Train page did not start {args.kind}: {page.error.text()}")
        return job
    return start


def seed(root: Path, model_dir: str) -> None:
    """Prompts, demos, rankings, ratings (for KTO) and finished tiny SFT and reward runs, once per project."""
    from studio.core.project import Project
    from studio.core.ratings import Ratings
    from tests.ui.seed import seed_data, seed_runs

    if (root / ".bench-seeded").exists():
        return
    project = Project.init(root, model=model_dir)
    seed_data(project.store)
    ratings = Ratings(project.store)
    for prompt in project.store.prompts():
        for response in project.store.responses(prompt.id):
            ratings.add(response.id, "banana" in response.text)
    project.close()
    seed_runs(root)
    (root / ".bench-seeded").touch()


def gui(args: argparse.Namespace, threads: int | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if threads:
        os.environ["STUDIO_TORCH_THREADS"] = str(threads)
    os.environ["STUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-gui-config-")
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui.context import StudioContext
    from studio.ui.main_window import MainWindow

    root = Path(args.project or Path(tempfile.mkdtemp(prefix="bench-gui-")) / "project")
    seed(root, args.model_dir)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    ctx = StudioContext(root, device=args.device)
    window = MainWindow(ctx)
    window.show()
    loop = QEventLoop()
    ctx.model_changed.connect(lambda _info: loop.quit())
    ctx.error.connect(lambda text: (print("error:", text, file=sys.stderr), loop.quit()))
    loop.exec()  # the window's own model-loading job

    start_job = prepare_job(args, window, ctx)
    app.processEvents()  # the Train page's first paint is not idle time
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
    state["phase"] = "job"
    t0 = time.perf_counter()
    job = start_job()
    job.finished.connect(lambda result: (outcome.update(result), loop.quit()))
    job.failed.connect(lambda text: (outcome.update(failed=text), loop.quit()))
    job.cancelled.connect(loop.quit)
    loop.exec()
    app.processEvents()  # what the job's end makes the window do belongs to the job
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
    args.model_dir = str(model_folder(args.model))
    kinds = TRAIN_KINDS if args.kind == "all" else (args.kind,)
    if args.project is None:  # one seeded project for every kind and variant (seeding trains two tiny runs)
        args.project = str(Path(tempfile.mkdtemp(prefix="bench-gui-")) / "project")
    print(f"# GUI responsiveness: {', '.join(kinds)} on {args.model}, {args.device}; {machine_line()}", flush=True)
    lines = [f"### {TICK_MS} ms QTimer lateness on the GUI thread during each job", "",
             "| kind | variant | torch threads | p50 (ms) | p99 (ms) | max (ms) | idle p99 (ms) | ticks | job (s) | "
             "load before / after | goal |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    failed = False
    for kind in kinds:
        for name in args.variants.split(","):
            args.kind = kind
            load = os.getloadavg()[0]
            r = run_child(Path(__file__), name, forward_args(args, skip=("child", "model")))
            print(f"{kind} {name}: {r}", flush=True)
            if "error" in r:
                failed = True
                lines.append(f"| {kind} | {name} | | | | | | | | {load:.2f} | failed |")
                continue
            job, idle = r["job"], r["idle"]
            met = job["p99_ms"] <= GOAL_P99_MS and job["max_ms"] <= GOAL_MAX_MS
            lines.append(f"| {kind} | {name} | {r['torch_threads']} | {job['p50_ms']:.3g} | {job['p99_ms']:.3g} | "
                         f"{job['max_ms']:.3g} | {idle['p99_ms']:.3g} | {job['ticks']} | {r['job_s']:.3g} | "
                         f"{load:.2f} / {os.getloadavg()[0]:.2f} | {'met' if met else 'NOT met'} |")
    print("\n".join(lines), flush=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
