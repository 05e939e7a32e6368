"""The main window: the pages as tabs, the File menu, errors in a banner, and a status bar
with the model (loaded in the background at start) and whatever job is running."""
from __future__ import annotations

import importlib
import traceback
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QDialog, QFileDialog, QFrame, QHBoxLayout, QInputDialog, QLabel,
                               QMainWindow, QMenu, QMessageBox, QToolButton, QVBoxLayout, QWidget)

from studio.core import import_export
from studio.core.project import EMBEDDED_MODEL, Project, ProjectError
from studio.core.recent import recent_projects, remember_project
from studio.core.run_kinds import run_kind
from studio.core.store import StoreError
from studio.ui.context import StudioContext
from studio.ui.demos_page import JSONL_FILTER, DemosPage
from studio.ui.help_page import HelpPage
from studio.ui.job_indicator import JobIndicator
from studio.ui.model_picker import ModelPicker
from studio.ui.pack_window import PACK_FILTER, PackExportDialog, PackRequest, open_pack_window
from studio.ui.page_tabs import PageTabs
from studio.ui.rank_page import RankPage
from studio.ui.theme import Appearance, set_role
from studio.ui.view_menu import add_view_menu
from studio.workers.job import Job
from studio.workers.model_jobs import export_run_job, gguf_export_job, load_model_job, pack_export_job

PAGES = ("Demonstrations", "Rank", "Rate", "Train", "Compare", "Oversight", "Annotators", "Help")
HELP_INDEX = PAGES.index("Help")
OPTIONAL_PAGES = ("studio.ui.rate_page", "studio.ui.train_page", "studio.ui.compare_page", "studio.ui.oversight_page",
                  "studio.ui.annotators_page")  # the pages from Rate to Annotators, each `<Name>Page` in its module


def _optional_page(module: str, name: str, ctx: StudioContext) -> QWidget:
    """Build page `name` from `module`, or a placeholder that says why it is not available."""
    try:
        return getattr(importlib.import_module(module), name)(ctx)
    except Exception as exc:  # a page that fails to import or build must not take the whole window down
        traceback.print_exc()
        label = QLabel(f"This page is not available yet.\n\n{type(exc).__name__}: {exc}",
                       alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        label.setObjectName(f"{name}Placeholder")
        return label


def model_summary(info: dict) -> str:
    """'SmolLM2 · cpu · 134.5 M parameters · 513 MB' from a ModelHost's info."""
    name = info.get("name", "?")
    name = name if name == EMBEDDED_MODEL else Path(name).name
    return (f"{name} · {info.get('device', '?')} · {info.get('params', 0) / 1e6:.1f} M parameters · "
            f"{info.get('memory_mb', 0):.0f} MB")


class ErrorBanner(QFrame):
    """A dismissible line above the pages with the last error."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)  # coloured by the theme's style sheet (studio.ui.theme)
        self.label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(text="✕", toolTip="Dismiss", autoRaise=True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class MainWindow(QMainWindow):
    """Alignment Studio's window over one StudioContext (replaced when another project is opened)."""

    def __init__(self, ctx: StudioContext):
        super().__init__()
        self.resize(1280, 820)
        self.tabs = PageTabs(documentMode=True)
        self.banner = ErrorBanner()
        self.read_only_banner = QLabel(wordWrap=True)
        set_role(self.read_only_banner, "notice")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.read_only_banner)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.model_label = QLabel(toolTip="The model being aligned: name, device, parameters, memory")
        self.jobs_indicator = JobIndicator()
        self.statusBar().addWidget(self.jobs_indicator, 1)  # takes the bar's width; its text elides
        self.statusBar().addPermanentWidget(self.model_label)
        self._load_job: Job | None = None
        self._closing = False
        self.appearance = Appearance()
        self.appearance.apply(QApplication.instance())
        self._build_menus()
        add_view_menu(self)
        self._attach(ctx)

    # -- project ----------------------------------------------------------------------------------------
    def _attach(self, ctx: StudioContext) -> None:
        """Show `ctx`'s project: build the pages, wire the signals, start loading the model."""
        self.ctx = ctx
        remember_project(ctx.project.root)
        self.setWindowTitle(f"Alignment Studio — {ctx.project.root.name}")
        self.read_only_banner.setText(f"Read-only: {ctx.project.root} cannot be written, so you can look, compare "
                                      "and export, but nothing you change here is saved.")
        self.read_only_banner.setVisible(ctx.project.read_only)
        ctx.error.connect(self.show_error)
        ctx.idle.connect(self._close_when_stopped)
        ctx.model_changed.connect(lambda info: self.model_label.setText(model_summary(info)))
        ctx.job_started.connect(self._track)
        self.tabs.remove_pages()
        self.demos_page = DemosPage(ctx)
        self.rank_page = RankPage(ctx)
        self.tabs.addTab(self.demos_page, PAGES[0])
        self.tabs.addTab(self.rank_page, PAGES[1])
        for name, module in zip(PAGES[2:], OPTIONAL_PAGES):  # each built when first shown
            self.tabs.add_lazy(lambda module=module, name=name: _optional_page(module, f"{name}Page", ctx), name)
        self.tabs.add_lazy(HelpPage, PAGES[HELP_INDEX])
        self.tabs.setCurrentIndex(HELP_INDEX if not ctx.store.demos() else 0)
        self.load_model()

    def load_model(self) -> None:
        """Load the project's model in the background; the window stays usable meanwhile."""
        self.model_label.setText(f"Loading {Path(self.ctx.project.model_spec).name}…")
        job = self.ctx.run(load_model_job, needs_model=True, title="Loading the model")
        job.finished.connect(self.ctx.model_changed.emit)
        job.failed.connect(lambda _text: self.model_label.setText("Model not loaded (see the message above)"))
        self._load_job = job
        job.start()

    def _refuse_if_busy(self, what: str) -> bool:
        """True (and say so) when a job is running, so `what` must wait."""
        if self.ctx.running():
            self.show_error(f"A job is still running (see the status bar): wait for it or stop it before {what}.")
            return True
        return False

    def switch_project(self, root: str | Path) -> None:
        """Close this project and show the one at `root`."""
        if self._refuse_if_busy("opening another project"):
            return
        try:
            new = StudioContext(root, annotator=self.ctx.annotator, device=self.ctx.host.device)
            new.store.counts()  # opens (and migrates) the database now, so a broken one is reported here
        except (ProjectError, StoreError) as exc:
            self.show_error(str(exc))
            return
        self.demos_page.save()
        old = self.ctx
        old.shutdown()
        self.banner.hide()
        self._attach(new)
        old.deleteLater()

    def new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new project")
        if folder:
            try:
                Project.init(folder).close()
            except ProjectError as exc:
                self.show_error(str(exc))
                return
            self.switch_project(folder)

    def open_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a project folder")
        if folder:
            self.switch_project(folder)

    def open_pack(self, path: str | None = None) -> None:
        path = path or QFileDialog.getOpenFileName(self, "Open a labelling pack", "", PACK_FILTER)[0]
        if path:
            self.pack_window = open_pack_window(path, None, self.show_error, self)  # asks the labeller's name

    def _fill_recent(self, menu: QMenu) -> None:
        menu.clear()
        for root in recent_projects():
            menu.addAction(str(root), lambda root=root: self.switch_project(root))
        if menu.isEmpty():
            menu.addAction("(none yet)").setEnabled(False)

    def choose_model(self, kind: str) -> None:
        """Ask for the model ("embedded", a HF "folder" or a "gguf" file) and switch to it."""
        if kind == "folder":
            spec = QFileDialog.getExistingDirectory(self, "Hugging Face model folder")
        elif kind == "gguf":
            spec = QFileDialog.getOpenFileName(self, "GGUF model file", "", "GGUF models (*.gguf)")[0]
        else:
            spec = EMBEDDED_MODEL
        if spec:
            self.set_model(spec)

    def pick_found_model(self) -> ModelPicker:
        """List the local models (scanned in the background) and switch to the one picked."""
        picker = ModelPicker(self.ctx, self)
        picker.chosen.connect(self.set_model)
        picker.open()
        return picker

    def set_model(self, spec: str) -> None:
        """Make `spec` the project's model, drop the loaded one and load the new one in the background."""
        if self._refuse_if_busy("changing the model"):
            return
        try:
            self.ctx.project.set_model(spec)
        except ProjectError as exc:
            self.show_error(str(exc))
            return
        self.ctx.host.unload()
        self.load_model()

    # -- export (all in background jobs) --------------------------------------------------------------
    def export_run(self, merged: bool) -> None:
        """Export a finished run's adapter, or the base with it merged, into a folder."""
        runs = [r for r in reversed(self.ctx.store.runs()) if r.status == "finished" and r.artifact]
        if not runs:
            self.show_error("No finished run to export yet: train one on the Train page.")
            return
        labels = [f"Run {r.id} · {r.kind.upper()} · step {r.step}" for r in runs]
        label, ok = QInputDialog.getItem(self, "Export a run", "Run:", labels, 0, False)
        folder = QFileDialog.getExistingDirectory(self, "Export into folder") if ok else ""
        if not folder:
            return
        run = runs[labels.index(label)]
        target = Path(folder) / f"run{run.id}-{run.kind}-{'merged' if merged else 'adapter'}"
        job = self.ctx.run(export_run_job(str(run.id), target, merged), needs_model=False,
                           title=f"Exporting run {run.id}")
        job.finished.connect(lambda path: self.statusBar().showMessage(f"Exported to {path}", 15000))
        job.start()

    def export_gguf(self, run_id: int | None = None, path: str | None = None, qtype: str | None = None) -> Job | None:
        """Write a finished run merged into the base as GGUF, with an Ollama Modelfile beside it."""
        runs = [r for r in reversed(self.ctx.store.runs()) if r.status == "finished" and r.artifact
                and run_kind(r.kind).makes_policy]
        if not runs:
            self.show_error("No finished policy run to export yet: train one on the Train page.")
            return None
        if run_id is None:
            labels = [f"Run {r.id} · {r.kind.upper()} · step {r.step}" for r in runs]
            label, ok = QInputDialog.getItem(self, "Export as GGUF", "Run:", labels, 0, False)
            if not ok:
                return None
            run_id = runs[labels.index(label)].id
        if qtype is None:
            qtype, ok = QInputDialog.getItem(self, "Export as GGUF", "Weights:", ["f16", "q8_0"], 0, False)
            if not ok:
                return None
        path = path or QFileDialog.getSaveFileName(self, "Export as GGUF", f"run{run_id}-{qtype}.gguf",
                                                   "GGUF (*.gguf)")[0]
        if not path:
            return None
        job = self.ctx.run(gguf_export_job(str(run_id), Path(path), qtype), needs_model=False)
        job.message.connect(lambda line: self.statusBar().showMessage(line[:200]))
        job.finished.connect(lambda out: self.statusBar().showMessage(
            f"Exported {out} and an Ollama Modelfile beside it", 15000))
        self.ctx.busy.emit(f"Exporting run {run_id} as GGUF…")
        job.start()
        return job

    def export_prefs(self, path: str | None = None) -> Job | None:
        """Write the preference pairs implied by the rankings as TRL JSONL."""
        path = path or QFileDialog.getSaveFileName(self, "Export preference pairs", "preferences.jsonl",
                                                   JSONL_FILTER)[0]
        if not path:
            return None
        job = self.ctx.run(lambda jc: import_export.export_prefs(  # the dialog asked before replacing a file
                               jc.project.store, jc.project.check_output(path, force=True)),
                           needs_model=False, title="Exporting preference pairs")
        job.finished.connect(lambda n: self.statusBar().showMessage(
            f"Exported {n} preference pairs to {path}", 15000))
        job.start()
        return job

    def export_pack(self, request: PackRequest | None = None) -> Job | None:
        """Write a labelling pack (asked for in a dialog, as `studio pack export`), in the background."""
        if request is None:
            dialog = PackExportDialog.for_store(self.ctx.store, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            request = dialog.request()
        job = self.ctx.run(pack_export_job(request.out, request.count, request.answers, request.order),
                           needs_model=request.order == "uncertain", title="Exporting a labelling pack")
        job.finished.connect(lambda text: self.statusBar().showMessage(text, 30000))
        job.start()
        return job

    # -- status ---------------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Show a readable message above the pages, once (never a crash, never a modal)."""
        self.banner.show_message(text)

    def _track(self, job: Job) -> None:
        """Show a new job in the status bar's job indicator until it ends."""
        self.jobs_indicator.track(job)

    # -- menus and closing ----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        file.addAction("New project…", QKeySequence("Ctrl+Shift+N"), self.new_project).setToolTip(
            "Create a project in an empty folder and open it")
        file.addAction("Open project…", QKeySequence.StandardKey.Open, self.open_project)
        file.addAction("Open labelling pack…", self.open_pack).setToolTip(
            "Rank the comparisons and rate the answers of a pack file (made with File > Export labelling pack or "
            "`studio pack export`) in a window of its own")
        file.addAction("Export labelling pack…", self.export_pack).setToolTip(
            "Write unranked comparisons, unrated answers and the guidelines into one pack file, for someone to label "
            "in the studio on another computer (no model needed)")
        recent = file.addMenu("Open recent")
        recent.aboutToShow.connect(lambda: self._fill_recent(recent))
        file.addSeparator()
        model = file.addMenu("Model")
        model.setToolTipsVisible(True)
        model.addAction("Embedded SmolLM2-135M", lambda: self.choose_model("embedded")).setToolTip(
            "The small model that ships with the studio (works offline)")
        model.addAction("Hugging Face model folder…", lambda: self.choose_model("folder")).setToolTip(
            "A folder with config.json, safetensors weights and a tokenizer")
        model.addAction("GGUF file…", lambda: self.choose_model("gguf")).setToolTip(
            "A .gguf file; it is converted once and cached")
        model.addAction("Found on this computer…", self.pick_found_model).setToolTip(
            "Models in the Hugging Face cache, LM Studio, Ollama and recent projects")
        export = file.addMenu("Export")
        export.addAction("Adapter of a run…", lambda: self.export_run(merged=False))
        export.addAction("Merged model of a run…", lambda: self.export_run(merged=True))
        export.addAction("GGUF for llama.cpp / Ollama / LM Studio…", lambda: self.export_gguf())
        export.addAction("Preference pairs (TRL JSONL)…", lambda: self.export_prefs())
        export.addAction("Demonstrations (JSONL)…", lambda: self.demos_page.export_jsonl())
        file.addSeparator()
        file.addAction("Quit", QKeySequence.StandardKey.Quit, self.close)
        go = self.menuBar().addMenu("&Go")
        for index, name in enumerate(PAGES):
            action = QAction(name, self, shortcut=QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _=False, i=index: self.tabs.setCurrentIndex(i))
            go.addAction(action)
        from studio.ui.demo_tour import open_demo

        self.menuBar().addMenu("&Help").addAction("Open the demo project", lambda: open_demo(self)).setToolTip(
            "A ready workshop project (prompts, short demonstrations, a rule and principles) and a guided tour")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before stopping a running job; stop every job without waiting here, close once they ended."""
        running = self.ctx.running()
        if running:
            working = [job for job in running if job is not self._load_job]
            if not self._closing and working and QMessageBox.question(
                    self, "Quit Alignment Studio", quit_question(working)) != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self._closing = True
            self.ctx.stop_all()  # the window closes itself from `idle`, when the last job has ended
            self.demos_page.save()
            self.statusBar().showMessage("Stopping the running job, then closing…")
            self.centralWidget().setEnabled(False)
            event.ignore()
            return
        self.demos_page.save()
        self.ctx.project.close()
        event.accept()

    def _close_when_stopped(self) -> None:
        if self._closing:
            self.close()


def quit_question(jobs: list[Job]) -> str:
    """The question asked before quitting, worded for the jobs at hand."""
    titles = [job.title or "A job" for job in jobs]
    training = any(title.startswith(("Training", "Resuming")) for title in titles)
    what = " and ".join(dict.fromkeys(titles))
    keep = ("Training stops at once, keeping its last finished step as a checkpoint, so you can resume it later."
            if training else "Nothing done so far is lost.")
    return f"{what} {'are' if len(titles) > 1 else 'is'} still running. {keep}\n\nStop and quit?"
