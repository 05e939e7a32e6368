import pytest

from studio.core.project import Project
from studio.ui.context import StudioContext


@pytest.fixture
def project_dir(tmp_path, tiny_model_dir):
    """A fresh project on the tiny test model."""
    root = tmp_path / "project"
    Project.init(root, model=str(tiny_model_dir)).close()
    return root


@pytest.fixture
def ctx(project_dir, qtbot):
    """A StudioContext on the project; every job it started has ended after the test."""
    context = StudioContext(project_dir, annotator="tester")
    yield context
    jobs = list(context.jobs)
    context.shutdown()
    assert all(job.wait(0) for job in jobs), "a worker was still running after shutdown"



@pytest.fixture(autouse=True)
def _no_modal_questions(monkeypatch):
    """A question box would block an offscreen test run forever: answer Yes (a test that cares patches its own)."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *_args, **_kw: QMessageBox.StandardButton.Yes)


@pytest.fixture(autouse=True)
def _deferred_deletes_run(qapp):
    """Delete what a test scheduled for deletion before the next one starts: without an event loop between tests,
    a closed page's charts lived on and their callbacks fired, on deleted views, inside a later test."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
