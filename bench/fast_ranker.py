"""A fast ranker on the real Rank page: how long the first comparison takes, and how often a person deciding every
1.5 s waits for the next one.

    QT_QPA_PLATFORM=offscreen nice -n 15 .venv/bin/python bench/fast_ranker.py        # embedded SmolLM2, CPU
    ... bench/fast_ranker.py --ready-ahead 2 --refill 2   # near the old policy: 2 prompts when fewer than 2 ready

One child process: a new project on the model, the real MainWindow offscreen; once the window's own job has
loaded the model, prompts are typed into the Rank page's box and added (time 0). Then a simulated person reads
each comparison for `--pace` seconds and presses 1; when the page shows nothing at that moment, the person waits
until a comparison appears (a wait). Reports the time to the first comparison and the waits within the first
`--decisions` decisions, how long a key press takes to store the label and show the next comparison, how late a
20 ms timer fires on the GUI thread meanwhile, and the least lead: of the generation calls after the first, the shortest time between
one ending and the person asking for its first comparison (negative: a wait). Goal: no wait after the first
comparison at 1.5 s a decision.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gui_responsiveness import TICK_MS, percentile  # noqa: E402
from bench.measure import PROMPTS, child_main, common_args, run_variants  # noqa: E402

WAIT_S = 0.05  # a gap shorter than this between a decision and the next comparison is the page redrawing


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--pace", type=float, default=1.5, help="seconds the person reads each comparison (default 1.5)")
    p.add_argument("--decisions", type=int, default=20, help="decisions to time (default 20)")
    p.add_argument("--ready-ahead", type=int, default=0, help="override the page's READY_AHEAD (0: the page's)")
    p.add_argument("--refill", type=int, default=0, help="override the page's REFILL_PROMPTS (0: the page's)")
    return p


def prompts(n: int) -> list[str]:
    """`n` distinct prompts: the default prompts, the benchmark prompts, then numbered variants of them."""
    root = Path(__file__).resolve().parent.parent
    base = [json.loads(line)["prompt"] for line in (root / "resources" / "default_prompts.jsonl").open()]
    base = list(dict.fromkeys(base + PROMPTS))
    return [base[i % len(base)] + ("" if i < len(base) else f" (take {i // len(base) + 1})") for i in range(n)]


def ranker(args: argparse.Namespace) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["STUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-ranker-config-")
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from studio.core.project import Project
    from studio.ui import rank_page
    from studio.ui.context import StudioContext
    from studio.ui.main_window import PAGES, MainWindow

    if args.ready_ahead:
        rank_page.READY_AHEAD = args.ready_ahead
    if args.refill:
        rank_page.REFILL_PROMPTS = args.refill

    root = Path(tempfile.mkdtemp(prefix="bench-ranker-")) / "project"
    Project.init(root, model=args.model_dir).close()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    ctx = StudioContext(root, annotator="ranker", device=args.device)
    window = MainWindow(ctx)
    window.show()
    window.activateWindow()
    loop = QEventLoop()
    ctx.model_changed.connect(lambda _info: loop.quit())
    ctx.error.connect(lambda text: (print("error:", text, file=sys.stderr), loop.quit()))
    loop.exec()  # the window's own model-loading job: not timed
    window.tabs.setCurrentIndex(PAGES.index("Rank"))
    page = window.rank_page

    events: dict = {"shown": [], "decided": [], "chunks": [], "key_ms": [], "late_ms": []}
    state = {"reading": False}

    def decide() -> None:
        pressed = time.perf_counter()
        QTest.keyClick(window.windowHandle(), Qt.Key.Key_1)  # the label is stored and the next one shown
        events["key_ms"].append((time.perf_counter() - pressed) * 1000)
        events["decided"].append(time.perf_counter() - t0)
        state["reading"] = False
        if len(events["decided"]) >= args.decisions:
            loop.quit()

    def poll() -> None:
        if not state["reading"] and page.comparison is not None:
            events["shown"].append(time.perf_counter() - t0)
            state["reading"] = True
            QTimer.singleShot(int(args.pace * 1000), decide)

    def on_job(job) -> None:
        if job.title == "Generating answers":
            number = state["jobs"] = state.get("jobs", 0) + 1
            job.progress.connect(lambda done, total: events["chunks"].append(
                (round(time.perf_counter() - t0, 2), number, done, total)))

    def tick() -> None:
        now = time.perf_counter()
        events["late_ms"].append(max(0.0, (now - state["tick"]) * 1000 - TICK_MS))
        state["tick"] = now

    ctx.job_started.connect(on_job)
    timer = QTimer(interval=5)
    timer.timeout.connect(poll)
    ticker = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
    ticker.timeout.connect(tick)
    page.prompts_edit.setPlainText("\n".join(prompts(args.decisions + rank_page.READY_AHEAD + 4)))
    t0 = time.perf_counter()
    page.add_prompts()
    timer.start()
    state["tick"] = time.perf_counter()
    ticker.start()
    QTimer.singleShot(170_000, loop.quit)  # a run stays under 3 minutes
    loop.exec()
    timer.stop()
    ticker.stop()
    ctx.shutdown()
    window.close()
    app.processEvents()

    shown, decided = events["shown"], events["decided"]
    waits = [s - d for d, s in zip(decided, shown[1:]) if s - d > WAIT_S]
    leads = lead_times(events["chunks"], decided)
    import torch

    return {"first_s": shown[0] if shown else None, "decisions": len(decided), "waits": len(waits),
            "wait_s": sum(waits), "longest_wait_s": max(waits, default=0.0),
            "least_lead_s": min(leads, default=float("nan")), "chunks": events["chunks"],
            "key_ms_median": percentile(events["key_ms"], 50), "key_ms_max": max(events["key_ms"], default=0.0),
            "late_ms_p99": percentile(events["late_ms"], 99), "late_ms_max": max(events["late_ms"], default=0.0),
            "ready_ahead": rank_page.READY_AHEAD, "refill": rank_page.REFILL_PROMPTS,
            "torch_threads": torch.get_num_threads(),
            "load_end": os.getloadavg()[0]}


def lead_times(chunks: list[tuple], decided: list[float]) -> list[float]:
    """For each generation call after the first whose comparisons the person reached: how long before the person
    asked for its first comparison it ended (negative: they waited for it)."""
    leads, made, last = [], 0, {}
    for end, job, done, _total in chunks:
        first, made, last[job] = made, made + done - last.get(job, 0), done
        if 0 < first <= len(decided):
            leads.append(decided[first - 1] - end)
    return leads


VARIANTS = {"fast_ranker": ranker}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    r = run_variants(Path(__file__), args, list(VARIANTS),
                     f"Fast ranker: {args.model} on {args.device}, a decision every {args.pace} s")["fast_ranker"]
    print("\n".join([
        f"### A ranker deciding every {args.pace} s (K = 2, the Rank page's defaults)", "",
        "| ready ahead | refill (prompts) | first comparison (s) | decisions | waits | waited (s) | "
        "longest wait (s) | least lead (s) | goal |", "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {r['ready_ahead']} | {r['refill']} | {r['first_s']:.2f} | "
        f"{r['decisions']} | {r['waits']} | {r['wait_s']:.1f} | {r['longest_wait_s']:.1f} | "
        f"{r['least_lead_s']:.1f} | "
        f"no wait after the first: {'met' if r['waits'] == 0 else 'NOT met'} |", "",
        f"key press to the next comparison: median {r['key_ms_median']:.1f} ms, longest {r['key_ms_max']:.1f} ms; "
        f"{TICK_MS} ms timer late: p99 {r['late_ms_p99']:.1f} ms, longest {r['late_ms_max']:.1f} ms", "",
        f"calls done (time s, job, prompts done, of): {r['chunks']}"]), flush=True)


if __name__ == "__main__":
    main()
