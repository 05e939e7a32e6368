"""Start the GUI: read the command line, open (or create) the project, show the main window."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core import collection
from studio.core.import_export import import_prompts
from studio.core.project import EMBEDDED_MODEL, Project, ProjectError
from studio.core.recent import recent_projects
from studio.core.store import StoreError
from studio.ui.pack_window import open_pack_window

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="Alignment Studio: align a small local LLM.")
    parser.add_argument("--project", metavar="DIR",
                        help="project folder, created if needed (default: the last one opened)")
    parser.add_argument("--model", help='"embedded", a Hugging Face model folder or a .gguf file '
                                        "(saved as the project's model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where the model runs (default: the best available)")
    parser.add_argument("--annotator", default=None,
                        help='your name on the labels you make (default "me"; a pack asks for it)')
    parser.add_argument("--pack", metavar="FILE", help="label a labelling pack only (no project, no model)")
    return parser.parse_args(argv)


def default_project() -> Path:
    """The last project opened, else default/ under $STUDIO_HOME (or ~/AlignmentStudio)."""
    recent = recent_projects()
    if recent:
        return recent[0]
    return Path(os.environ.get("STUDIO_HOME") or Path.home() / "AlignmentStudio") / "default"


def prepare_project(args: argparse.Namespace) -> Path:
    """The project folder to open, created (on --model or the embedded model) if it is not one yet."""
    root = Path(args.project) if args.project else default_project()
    model = args.model if args.model in (None, EMBEDDED_MODEL) else str(Path(args.model).resolve())
    project = Project.init(root, model=model or EMBEDDED_MODEL)
    if model and project.model_spec != model:
        project.set_model(model)
    if not args.project and not project.store.prompts() and (RESOURCES / "default_prompts.jsonl").exists():
        import_prompts(project.store, RESOURCES / "default_prompts.jsonl")  # a new user has something to rank
    project.close()
    return root


def run_pack(app: QApplication, args: argparse.Namespace) -> int:
    """The labelling-only window on a pack (asking the labeller's name unless --annotator gives it); a pack that
    cannot be used is reported in one line."""
    errors: list[str] = []
    window = open_pack_window(args.pack, args.annotator, errors.append)
    if window is None and not errors:  # the name was not given
        return 0
    if window is None:
        print(f"error: {errors[0]}", file=sys.stderr)
        QMessageBox.critical(None, "Alignment Studio", errors[0])
        return 1
    return app.exec()


def run_app(argv: list[str] | None = None) -> int:
    """Run the GUI until its window closes; returns the exit code."""
    args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Alignment Studio")
    app.setWindowIcon(QIcon(str(RESOURCES / "icon.svg")))
    if args.pack:
        return run_pack(app, args)
    collection.pause()  # until the window's model job has loaded the model (`core.collection`)
    from studio.ui.context import StudioContext  # here, so that --pack starts without them (and superqt)
    from studio.ui.main_window import MainWindow

    try:
        root = prepare_project(args)
        ctx = StudioContext(root, annotator=args.annotator or "me", device=args.device)
        ctx.store.counts()  # open the database now, so a broken one is reported before the window
    except (ProjectError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        QMessageBox.critical(None, "Alignment Studio", str(exc))
        return 1
    window = MainWindow(ctx)
    window.show()
    return app.exec()
