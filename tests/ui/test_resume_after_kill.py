"""A run left `running` by a killed process is offered Resume after a restart; a run that another
process is still training is not (and the CLI refuses to resume it)."""
import time

from studio.cli import main
from studio.core.project import Project
from studio.ui.context import StudioContext
from studio.ui.train_page import TrainPage
from tests.kill_harness import checkpoint_step, kill_at_checkpoints, seed_project, start_training

STEPS = 200  # long enough that the first process is still training while the window checks it


def test_a_killed_run_is_offered_resume_and_a_live_one_is_not(qtbot, tmp_path, tiny_model_dir, capsys):
    root = seed_project(tmp_path / "p", tiny_model_dir).root
    trainer = start_training(root, "sft", STEPS, tmp_path / "train.log")
    try:
        deadline = time.monotonic() + 300
        with Project.open(root).store as store:
            while not store.runs() or checkpoint_step(root / "runs" / str(store.runs()[0].id)) is None:
                assert trainer.process.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "train.log").read_text()
                time.sleep(0.01)
        run_id = 1
        ctx = StudioContext(root, annotator="tester")  # "after a restart": a fresh window on the project
        page = TrainPage(ctx)
        qtbot.addWidget(page)
        page.refresh()
        page.history.selectRow(0)
        assert page.selected_run().id == run_id and page.selected_run().status == "running"
        assert trainer.process.poll() is None  # still training in the other process
        assert not page.resume_button.isEnabled()
        capsys.readouterr()
        assert main(["train", "sft", str(root), "--resume", str(run_id)]) == 1
        assert "being trained by another process" in capsys.readouterr().err
        kill_at_checkpoints(root, [trainer], [checkpoint_step(root / "runs" / "1") + 1])
    finally:
        if trainer.process.poll() is None:
            trainer.process.kill()
        trainer.process.wait()
    page.refresh()
    assert ctx.store.run(run_id).status == "running"  # left so by the kill
    assert page.resume_button.isEnabled()
    job = page.resume()
    with qtbot.waitSignal(job.finished, timeout=300_000):
        pass
    run = ctx.store.run(run_id)
    assert (run.status, run.step) == ("finished", STEPS)
    ctx.shutdown()
