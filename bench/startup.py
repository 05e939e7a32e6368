"""Time to a visible MainWindow and to the embedded model being ready: first run (empty cache) and cached.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/startup.py

Each case is a fresh process that does what `main.py` does (QApplication, project, StudioContext,
MainWindow.show()) on a new temporary project with the embedded model, then waits for the window's own
model-loading job (`model_changed`). "first run" points STUDIO_CACHE_DIR at an empty temporary folder,
so the GGUF is converted to safetensors; "cached" uses the normal cache (filled first if it is empty).
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

from bench.measure import child_main, common_args, forward_args, machine_line, model_folder, run_child  # noqa: E402


def parser() -> argparse.ArgumentParser:
    return common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))


def _start(args: argparse.Namespace, cold: bool) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["STUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-start-config-")
    if cold:
        os.environ["STUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-start-cache-")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui.app import parse_args, prepare_project
    from studio.ui.context import StudioContext
    from studio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
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


VARIANTS = {"first_run": lambda a: _start(a, cold=True), "cached": lambda a: _start(a, cold=False)}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    model_folder("embedded")  # make sure the normal cache is filled, so "cached" is cached
    print(f"# Startup: embedded model on {args.device}; {machine_line()}", flush=True)
    res = {name: run_child(Path(__file__), name, forward_args(args, skip=("child", "model"))) for name in VARIANTS}
    for name, r in res.items():
        print(f"{name}: {r}", flush=True)
    if any("error" in r for r in res.values()):
        sys.exit(1)
    lines = ["### Start-up", "", "| case | window visible (s) | model ready (s) | whole process (s) | peak RSS (MiB) |",
             "|---|---:|---:|---:|---:|"]
    for name, r in res.items():
        lines.append(f"| {name.replace('_', ' ')} | {r['window_visible_s']:.2f} | {r['model_ready_s']:.2f} | "
                     f"{r['process_s']:.2f} | {r['peak_rss_mb']:,.0f} |")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
