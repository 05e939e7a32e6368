"""Time to a visible MainWindow and to the embedded model being ready: first run (empty cache) and cached.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/startup.py

Each case is a fresh process that does what `main.py` does (QApplication, project, StudioContext,
MainWindow.show()) on a new temporary project with the embedded model, then waits for the window's own
model-loading job (`model_changed`). "first run" points STUDIO_CACHE_DIR at an empty temporary folder,
so the GGUF is converted to safetensors; "cached" uses the normal cache (filled first if it is empty).
"pack" is `python main.py --pack FILE` on a 200-comparison pack: the labelling-only window, which must
be visible within 1.5 s and must not import torch (the child reports whether it did).
"floor" is a process that only imports torch and transformers.modeling_utils, what loading any model needs
before a weight is read; "cached" and "floor" run `--repeat` times, alternating, and the table gives their
medians and "model ready" above the floor (goal: at most 1 s). `--threads` is not passed on: setting torch's threads
would import torch before the window, which main.py never does.
Times are from the child's first line of Python (after interpreter start-up), and the parent's
wall-clock time for the whole process is shown too.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (child_main, common_args, forward_args, machine_line, median, model_folder,  # noqa: E402
                           run_child)


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--repeat", type=int, default=3, help="runs of the cached start and of the floor (default 3)")
    return p


def _floor(_args: argparse.Namespace) -> dict:
    """The import floor: what any model load imports before it reads a weight."""
    import torch  # noqa: F401
    import transformers.modeling_utils  # noqa: F401

    return {"imports_s": time.perf_counter() - T0}


def _start(args: argparse.Namespace, cold: bool) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["STUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-start-config-")
    if cold:
        os.environ["STUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-start-cache-")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.core import collection
    from studio.ui.app import parse_args, prepare_project

    app = QApplication.instance() or QApplication([sys.argv[0]])
    collection.pause()  # where run_app pauses it, before the window's modules
    from studio.ui.context import StudioContext
    from studio.ui.main_window import MainWindow

    project = Path(tempfile.mkdtemp(prefix="bench-start-")) / "project"
    ctx = StudioContext(prepare_project(parse_args(["--project", str(project), "--device", args.device])),
                        device=args.device)
    ctx.store.counts()
    window = MainWindow(ctx)
    window.show()
    app.processEvents()
    visible = time.perf_counter() - T0
    assert window.isVisible()
    loop, outcome = QEventLoop(), {}
    ctx.model_changed.connect(lambda info: (outcome.update(info), loop.quit()))
    ctx.error.connect(lambda text: (outcome.update(error=text), loop.quit()))
    QTimer.singleShot(600_000, loop.quit)
    loop.exec()
    ready = time.perf_counter() - T0
    ctx.shutdown()
    window.close()
    if "error" in outcome or not outcome:
        raise RuntimeError(outcome.get("error", "the model did not load within 10 minutes"))
    return {"window_visible_s": visible, "model_ready_s": ready, "model": outcome.get("name")}


def _pack(args: argparse.Namespace) -> dict:
    """`python main.py --pack FILE`: the labelling-only window on the pack the parent made; no torch."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from studio.ui.app import parse_args
    from studio.ui.pack_window import open_pack_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    args = parse_args(["--pack", os.environ["STUDIO_BENCH_PACK"], "--annotator", "bench"])  # no name dialog
    window = open_pack_window(args.pack, args.annotator, print)
    app.processEvents()
    visible = time.perf_counter() - T0
    assert window.isVisible() and window.rank_page.comparison is not None and window.rate_page.item is not None
    torch_imported = "torch" in sys.modules
    window.close()
    return {"window_visible_s": visible, "torch_imported": torch_imported}


def make_pack(comparisons: int = 200) -> Path:
    """A pack of `comparisons` two-answer comparisons, as `studio pack export` writes it."""
    from studio.core.packs import export_pack
    from studio.core.project import Project

    folder = Path(tempfile.mkdtemp(prefix="bench-pack-"))
    project = Project.init(folder / "project")
    for i in range(comparisons):
        p = project.store.add_prompt(f"Prompt number {i}: say something kind.")
        project.store.add_comparison(p, [project.store.add_response(p, f"Answer {j} to {i}. " * 20, "base")
                                         for j in range(2)])
    export_pack(project.store, folder / "todo.pack")
    project.close()
    return folder / "todo.pack"


VARIANTS = {"first_run": lambda a: _start(a, cold=True), "cached": lambda a: _start(a, cold=False), "pack": _pack,
            "floor": _floor}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    model_folder("embedded")  # make sure the normal cache is filled, so "cached" is cached
    print(f"# Startup: embedded model on {args.device}; {machine_line()}", flush=True)
    # no --threads in any child: it would import torch before the window, which main.py never does (the studio sets
    # torch's threads in its model job), and the pack window must not import it at all
    argv = forward_args(args, skip=("child", "model", "repeat", "threads"))
    res = {"first_run": [run_child(Path(__file__), "first_run", argv)], "cached": [], "floor": []}
    for _ in range(args.repeat):
        for name in ("cached", "floor"):
            res[name].append(run_child(Path(__file__), name, argv))
    os.environ["STUDIO_BENCH_PACK"] = str(make_pack())
    pack = run_child(Path(__file__), "pack", argv)
    print(f"pack: {pack}", flush=True)
    for name, runs in res.items():
        for r in runs:
            print(f"{name}: {r}", flush=True)
    if any("error" in r for r in [*res["first_run"], *res["cached"], *res["floor"], pack]):
        sys.exit(1)
    print(f"# load average after: {machine_line()}", flush=True)
    print(table(res, pack), flush=True)


def table(res: dict[str, list[dict]], pack: dict) -> str:
    """The markdown tables: each start case (medians over its runs), the floor, and the pack window."""
    floor = median([r["imports_s"] for r in res["floor"]])
    lines = ["### Start-up", "", "| case | runs | window visible (s) | model ready (s) | model ready - floor (s) | "
             "whole process (s) | peak RSS (MiB) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("first_run", "cached"):
        runs = res[name]
        ready = median([r["model_ready_s"] for r in runs])
        lines.append(f"| {name.replace('_', ' ')} | {len(runs)} | {median([r['window_visible_s'] for r in runs]):.2f} "
                     f"| {ready:.2f} ({_each(runs, 'model_ready_s')}) | {ready - floor:+.2f} "
                     f"| {median([r['process_s'] for r in runs]):.2f} "
                     f"| {median([r['peak_rss_mb'] for r in runs]):,.0f} |")
    lines.append(f"| floor: import torch, transformers.modeling_utils | {len(res['floor'])} | - | {floor:.2f} "
                 f"({_each(res['floor'], 'imports_s')}) | 0 | "
                 f"{median([r['process_s'] for r in res['floor']]):.2f} | "
                 f"{median([r['peak_rss_mb'] for r in res['floor']]):,.0f} |")
    lines += ["", "| labelling pack (200 comparisons) | window visible (s) | torch imported | whole process (s) | "
              "peak RSS (MiB) |", "|---|---:|---|---:|---:|",
              f"| main.py --pack | {pack['window_visible_s']:.2f} | {pack['torch_imported']} | {pack['process_s']:.2f} | "
              f"{pack['peak_rss_mb']:,.0f} |"]
    return "\n".join(lines)


def _each(runs: list[dict], key: str) -> str:
    return ", ".join(f"{r[key]:.2f}" for r in runs)


if __name__ == "__main__":
    main()
