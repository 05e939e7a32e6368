"""`runs.train`'s glue, with the engine replaced by a recorder (no model): the data an engine gets (every rating as a
KTO example), the starting policy and reward run it is handed (the newest finished SFT run, the reward run the user
named) and that a resume hands over again, and each round's metrics and samples stored at their own step and fed
to the hacking monitor, whose alarms are stored."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.core.oversight_store import alarms
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.training import runs
from studio.training.engine import TrainResult

NONWORDS = "Xqzzkrtpl Bcdfghjk Zzzxq"


class FakeBase:
    device = "cpu"

    def __init__(self):
        self.loaded: list[tuple[str, Path]] = []

    def load_adapter(self, name: str, path: Path) -> None:
        self.loaded.append((name, Path(path)))


@pytest.fixture
def project(tmp_path, monkeypatch):
    project = Project.init(tmp_path / "p")
    store = project.store
    for text in ("first question", "second question"):
        pid = store.add_prompt(text)
        good, bad = store.add_response(pid, f"good {text}", "base"), store.add_response(pid, f"bad {text}", "base")
        Ratings(store).add(good, True, "me"), Ratings(store).add(bad, False, "me")
    calls = []

    def engine(base, data, config, run_dir, hooks, resume=False, **extra):
        calls.append(SimpleNamespace(data=data, resume=resume, **extra))
        hooks.metrics(3, {"reward": 1.0, "entropy": 3.0})
        hooks.samples(3, [{"prompt": "first question", "response": NONWORDS}] * 6)
        hooks.metrics(4, {"reward": 2.0, "entropy": 0.5})
        return TrainResult("finished", 4, {"reward": 2.0})

    monkeypatch.setattr(runs, "resolve", lambda _name: engine)
    monkeypatch.setattr(runs.OnlineReward, "load", staticmethod(lambda base, path: ("reward model", Path(path))))
    project.calls = calls
    yield project
    project.close()


def finished(project: Project, kind: str, status: str = "finished") -> int:
    run_id = project.store.create_run(kind, {})
    folder = project.run_dir(run_id) / "adapter"
    folder.mkdir()
    project.store.update_run(run_id, status=status, artifact=project.relative_artifact(run_id, folder))
    return run_id


def test_kto_gets_every_rating_as_an_example(project):
    run_id, _ = runs.train(project, FakeBase(), "kto")
    [call] = project.calls
    assert call.data == Ratings(project.store).examples() and len(call.data) == 4
    assert [e["label"] for e in call.data] == [True, False, True, False]
    assert project.store.run(run_id).status == "finished"


def test_an_online_run_gets_its_start_and_the_named_reward_run_and_a_resume_gets_them_again(project):
    store = project.store
    sft = finished(project, "sft")
    finished(project, "sft", status="failed")           # newer but failed: not the start
    chosen, _newest = finished(project, "reward"), finished(project, "reward")
    base = FakeBase()
    run_id, _ = runs.train(project, base, "rloo", reward=str(chosen))
    run = store.run(run_id)
    assert run.config["_init"] == str(sft) and run.config["_reward"] == str(chosen) and run.parent == sft
    assert base.loaded == [("sft", project.artifact_path(store.run(sft)))]
    call = project.calls[-1]
    assert call.init_adapter == "sft" and call.reward.model == ("reward model", project.run_dir(chosen))
    assert not call.resume

    base = FakeBase()
    store.update_run(run_id, status="cancelled")
    runs.train(project, base, "rloo", resume=run_id)
    call = project.calls[-1]
    assert call.resume and call.init_adapter == "sft" and call.reward.model == ("reward model", project.run_dir(chosen))
    assert base.loaded == [("sft", project.artifact_path(store.run(sft)))]


def test_each_round_is_stored_at_its_step_and_watched(project):
    finished(project, "reward")
    run_id, _ = runs.train(project, FakeBase(), "rloo")
    metrics = {(row["step"], row["name"]): row["value"] for row in project.store.metrics(run_id)}
    assert metrics == {(3, "reward"): 1.0, (3, "entropy"): 3.0, (4, "reward"): 2.0, (4, "entropy"): 0.5}
    assert {row["step"] for row in project.store.samples(run_id)} == {3}
    raised = {alarm.signal: (alarm.began, alarm.raised) for _, alarm in alarms(project.store, run_id)}
    assert raised["nonwords"] == (3, 3) and raised["entropy"][1] == 4
