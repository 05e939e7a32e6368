import sys
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from studio.core.project import Project
from studio.ui.app import default_project, parse_args, prepare_project
from studio.ui.help_page import HelpPage
from studio.ui.job_indicator import JobIndicator
from studio.ui.main_window import HELP_INDEX, PAGES, MainWindow, quit_question
from studio.core.recent import recent_projects, remember_project
from tests.ui.helpers import show

LOAD_TIMEOUT_MS = 60_000


def loaded(window: MainWindow) -> bool:
    return "M parameters" in window.model_label.text() and not window.ctx.running()


def test_opens_with_all_pages_and_loads_the_model_in_the_background(qtbot, ctx, project_dir):
    window = show(qtbot, MainWindow(ctx))
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == list(PAGES)
    assert window.tabs.currentIndex() == PAGES.index("Help")  # a new project starts on Help
    assert window.isVisible()  # the window is up while the model loads in a worker
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
    assert window.model_label.text().startswith(f"{ctx.host.info['name'].rsplit('/', 1)[-1]} · cpu · ")
    assert not window.jobs_indicator.isVisible() and window.statusBar().isAncestorOf(window.jobs_indicator)
    assert recent_projects() == [project_dir.resolve()]
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.rank_page
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.demos_page
    assert window.close()
    assert "store" not in ctx.project.__dict__  # the project was closed


def test_starts_on_demonstrations_when_there_are_some(qtbot, ctx):
    ctx.store.add_demo("Q", "A")
    window = show(qtbot, MainWindow(ctx))
    assert window.tabs.currentWidget() is window.demos_page
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)


def test_missing_page_shows_a_placeholder(qtbot, ctx, monkeypatch):
    monkeypatch.setitem(sys.modules, "studio.ui.train_page", None)  # import fails
    window = show(qtbot, MainWindow(ctx))
    page = window.tabs.widget(PAGES.index("Train"))
    assert isinstance(page, QLabel) and "not available" in page.text()
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)


def test_errors_show_in_a_banner_and_a_bad_model_does_not_crash(qtbot, ctx, tmp_path):
    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
    spec = ctx.project.model_spec
    window.set_model(str(tmp_path / "no-such-model"))  # refused at once: the loaded model stays
    assert window.banner.isVisible() and "does not exist" in window.banner.label.text()
    assert ctx.project.model_spec == spec and loaded(window)
    window.banner.hide()
    (tmp_path / "not-a-model").mkdir()
    window.set_model(str(tmp_path / "not-a-model"))
    qtbot.waitUntil(window.banner.isVisible, timeout=LOAD_TIMEOUT_MS)
    assert "no config.json" in window.banner.label.text()
    assert "not loaded" in window.model_label.text()


def test_a_bad_import_is_said_once_and_completely(qtbot, ctx, tmp_path):
    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
    demos, ratings = tmp_path / "demos.jsonl", tmp_path / "ratings.jsonl"
    demos.write_text('{"prompt": "P", "completion": "C"}\n{"prompt": ""}\n')
    ratings.write_text('{"prompt": "R", "completion": "x", "label": true}\n{"prompt": "R", "completion": "y"}\n')
    for page, bad in ((window.demos_page, demos), (window.tabs.widget(PAGES.index("Rate")), ratings)):
        window.tabs.setCurrentWidget(page)
        page.import_jsonl(str(bad))
        qtbot.waitUntil(lambda: "Import failed" in page.message.text(), timeout=10_000)
        assert "nothing added" in page.message.text() and "line 2" in page.message.text()
        assert not window.banner.isVisible() and window.statusBar().currentMessage() == ""
    window.grab().save("/tmp/bad_import.png")
    assert not ctx.store.demos()


def _slow_stop(jc) -> None:
    """A job that notices a cancel only after 2 s, as a training step would."""
    jc.job._stop.wait(60)
    time.sleep(2)


def test_close_while_a_job_runs_asks_in_its_words_and_never_waits(qtbot, ctx, monkeypatch):
    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
    job = ctx.run(_slow_stop, needs_model=False, title="Generating answers").start()
    questions = []
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda _parent, _title, text: (questions.append(text),
                                                                                 next(answers))[1])
    assert not window.close() and window.isVisible() and job.running and not job.stop_requested()
    started = time.perf_counter()
    assert not window.close()  # asked again, "Yes": the job is told to stop and the window closes later
    assert time.perf_counter() - started < 1.5 and job.stop_requested() and job.running
    assert window.isVisible() and not window.centralWidget().isEnabled()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert job.wait(0) and "store" not in ctx.project.__dict__
    assert questions[0].startswith("Generating answers is still running") and "checkpoint" not in questions[0]


def test_closing_during_training_stops_it_inside_a_step_and_keeps_the_last_finished_one(qtbot, ctx):
    from studio.training.checkpoints import checkpoint_step
    from studio.workers.model_jobs import train_job

    for i in range(6):
        ctx.store.add_demo(f"question {i}", f"a short answer {i}")
    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
    settings = {"steps": 10_000, "batch_size": 2, "max_length": 48, "lora_r": 2, "lora_alpha": 4,
                "checkpoint_every": 3}
    job = ctx.run(train_job("sft", settings), title="Training SFT").start()
    steps = []
    job.progress.connect(lambda done, _total: steps.append(done))
    qtbot.waitUntil(lambda: len(steps) >= 4, timeout=LOAD_TIMEOUT_MS)
    assert not window.close()  # "Yes": the job is told to stop, the window closes once it has ended
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=LOAD_TIMEOUT_MS)
    project = Project.open(ctx.project.root)
    run = project.store.runs("sft")[-1]
    reported = max(row["step"] for row in project.store.metrics(run.id))
    assert run.status == "cancelled" and 4 <= run.step < 10_000
    assert reported == run.step == checkpoint_step(project.run_dir(run.id))  # nothing past the last whole step
    project.close()


def test_quit_question_names_training_and_its_checkpoint():
    from studio.workers.job import Job

    jobs = [Job(lambda jc: None, ".", title=title) for title in ("Training SFT", "Generating answers")]
    text = quit_question(jobs)
    assert text.startswith("Training SFT and Generating answers are still running") and "checkpoint" in text


def test_job_indicator_names_running_and_queued_jobs(qtbot, ctx):
    indicator = JobIndicator()
    qtbot.addWidget(indicator)
    indicator.show()
    ctx.job_started.connect(indicator.track)  # as the window wires it

    def holds_model(jc) -> None:
        jc.job.progress.emit(3, 10)
        jc.job._stop.wait(60)

    first = ctx.run(holds_model, title="Training SFT").start()
    qtbot.waitUntil(lambda: first.state == "running", timeout=30_000)
    second = ctx.run(lambda jc: None, title="Generating answers").start()  # waits for the model
    qtbot.waitUntil(lambda: "3 of 10" in indicator.label.text(), timeout=30_000)
    assert indicator.label.text() == "Training SFT: 3 of 10 · queued: Generating answers"
    assert indicator.progress.value() == 3 and indicator.progress.maximum() == 10 and indicator.isVisible()
    first.cancel()
    qtbot.waitUntil(lambda: first.state == second.state == "ended", timeout=30_000)
    assert not indicator.isVisible()


def test_a_job_with_nothing_ahead_is_starting_not_queued(qtbot, ctx):
    indicator = JobIndicator()
    qtbot.addWidget(indicator)
    ctx.job_started.connect(indicator.track)
    job = ctx.run(lambda jc: None, title="Loading the model").start()  # queued until its `began` is delivered
    assert job.state == "queued"
    assert indicator.label.text() == "Loading the model…" and "waiting" not in indicator.toolTip()
    qtbot.waitUntil(lambda: job.state == "ended", timeout=30_000)


def test_a_job_ending_after_its_indicator_was_deleted_reaches_no_deleted_label(qtbot):
    from PySide6.QtCore import QCoreApplication, QEvent

    from studio.workers.job import Job

    kept, gone = JobIndicator(), JobIndicator()
    qtbot.addWidget(kept)
    job = Job(lambda jc: None, ".", title="Training SFT")
    for indicator in (kept, gone):
        indicator.track(job)
    job.state = "running"
    gone.deleteLater()  # its window closed while the job ran
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    with qtbot.capture_exceptions() as raised:
        job._done(("ok", None))
    assert raised == [] and kept.jobs == [] and kept.label.text() == ""


def test_switch_project_and_export_prefs(qtbot, ctx, tmp_path, tiny_model_dir):
    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
    other = tmp_path / "other"
    Project.init(other, model=str(tiny_model_dir)).close()
    window.switch_project(other)
    assert window.ctx is not ctx and window.ctx.project.root == other
    assert recent_projects()[0] == other.resolve() and "other" in window.windowTitle()
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)

    store = window.ctx.store
    prompt_id = store.add_prompt("Q")
    ids = [store.add_response(prompt_id, text, "base") for text in ("good", "bad")]
    store.add_ranking(store.add_comparison(prompt_id, ids), [[0], [1]])
    target = tmp_path / "prefs.jsonl"
    with qtbot.waitSignal(window.export_prefs(str(target)).finished, timeout=10_000):
        pass
    assert '"chosen": "good"' in target.read_text()
    assert window.close()


def test_help_page_explains_the_steps(qtbot):
    page = HelpPage()
    qtbot.addWidget(page)
    text = page.text.toPlainText()
    for word in ("SFT", "reward model", "PPO", "KL", "DPO", "Ctrl+Z"):
        assert word in text


def test_app_default_project_and_model_argument(monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    root = prepare_project(parse_args([]))
    assert root == tmp_path / "home" / "default"
    assert Project.open(root).model_spec == "embedded"
    assert len(Project.open(root).store.prompts()) == 20  # a new user starts with prompts to rank
    prepare_project(parse_args([]))
    assert len(Project.open(root).store.prompts()) == 20  # seeded once

    chosen = prepare_project(parse_args(["--project", str(tmp_path / "p"), "--model", str(tiny_model_dir)]))
    assert Project.open(chosen).model_spec == str(tiny_model_dir.resolve())
    assert Project.open(chosen).store.prompts() == []  # a project the user names starts empty
    remember_project(chosen)
    assert default_project() == chosen.resolve()


def test_a_long_job_message_elides_instead_of_widening_the_window(qtbot):
    """A job's message can be long (presenter mode makes it longer): the status bar shows what fits, ending in "…",
    and the window's minimum width does not grow with it."""
    from studio.ui.job_indicator import ElidedLabel

    window = QMainWindow()
    qtbot.addWidget(window)
    label = ElidedLabel()
    window.statusBar().addWidget(label, 1)
    window.resize(400, 200)
    window.show()
    before = window.minimumSizeHint().width()
    message = "Loading the model: Loading model onto cpu… " * 10
    label.setText(message)
    qtbot.waitUntil(lambda: QLabel.text(label) != message)
    shown = QLabel.text(label)
    assert label.text() == message and shown.endswith("…") and message.startswith(shown[:-1])
    assert label.fontMetrics().horizontalAdvance(shown) <= label.width()
    assert window.minimumSizeHint().width() == before


def test_the_window_builds_only_the_page_it_opens_on(qtbot, ctx):
    from PySide6.QtWidgets import QTabWidget

    from studio.ui.train_page import TrainPage

    window = show(qtbot, MainWindow(ctx))
    train = PAGES.index("Train")
    unbuilt = [i for i in range(len(PAGES)) if QTabWidget.widget(window.tabs, i).widget() is None]
    assert unbuilt == [PAGES.index(name) for name in ("Rate", "Train", "Compare", "Oversight", "Annotators")]
    assert window.tabs.indexOf(window.rank_page) == 1 and window.tabs.currentIndex() == HELP_INDEX
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)  # Go > Train
    page = window.tabs.currentWidget()
    assert isinstance(page, TrainPage) and page.isVisible() and window.tabs.indexOf(page) == train
    assert window.tabs.widget(train) is page  # built once
    qtbot.waitUntil(lambda: loaded(window), timeout=LOAD_TIMEOUT_MS)
