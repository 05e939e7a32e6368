"""Which runs an exported job is built from (the model work recorded, not done): the newest finished SFT run as the
starting policy (an unfinished newer one is no start), the reward run the user named, and the start the user named;
job.json names the same runs."""
import json

import pytest

from studio.core.project import Project
from studio.training import reward_export
from studio.training import runs as run_module
from studio.training.job_export import export_job


@pytest.fixture
def exports(monkeypatch):
    calls = []

    def fake_run(project, run_ref, out_dir, merged=False, force=False):
        calls.append(("policy", project.store.resolve_run(run_ref).id, merged))
        out_dir.mkdir(parents=True)

    def fake_reward(project, run_ref, out_dir):
        calls.append(("reward", project.store.resolve_run(run_ref).id))
        out_dir.mkdir(parents=True)

    monkeypatch.setattr(run_module, "export_run", fake_run)
    monkeypatch.setattr(reward_export, "export_reward_model", fake_reward)
    return calls


def finished(project: Project, kind: str, status: str = "finished") -> int:
    run_id = project.store.create_run(kind, {})
    project.store.update_run(run_id, status=status)
    return run_id


def test_a_ppo_job_starts_from_the_newest_finished_sft_and_scores_with_the_named_reward_run(project, tmp_path,
                                                                                             exports):
    project = Project.open(project)
    try:
        _old, sft = finished(project, "sft"), finished(project, "sft")
        finished(project, "sft", status="failed")
        chosen, _newest = finished(project, "reward"), finished(project, "reward")
        export_job(project, "ppo", tmp_path / "job", reward=str(chosen))
        assert exports == [("policy", sft, True), ("reward", chosen)]
        assert json.loads((tmp_path / "job" / "job.json").read_text())["init_run"] == sft

        exports.clear()
        export_job(project, "rloo", tmp_path / "job2", init=str(_old))
        assert exports == [("policy", _old, True), ("reward", _newest)]
    finally:
        project.close()


def test_without_a_finished_sft_run_a_job_starts_from_the_base(project, tmp_path, exports):
    project = Project.open(project)
    try:
        finished(project, "sft", status="failed")
        reward = finished(project, "reward")
        export_job(project, "ppo", tmp_path / "job")
        assert exports == [("reward", reward)]
        assert json.loads((tmp_path / "job" / "job.json").read_text()).get("init_run") is None
    finally:
        project.close()


def test_a_job_says_that_the_run_s_cautious_reward_and_reach_are_not_in_it(project, tmp_path, exports):
    project = Project.open(project)
    try:
        finished(project, "reward")
        project.store.update_run(project.store.create_run("ppo", {"uncertainty_penalty": 1.0}), status="finished")
        export_job(project, "ppo", tmp_path / "job")
        assert "cautious reward (uncertainty_penalty=1.0" in (tmp_path / "job" / "README.md").read_text()
        export_job(project, "rloo", tmp_path / "job2")  # its newest RLOO run: none, so the defaults (cautious too)
        assert "cautious reward (uncertainty_penalty=1.0" in (tmp_path / "job2" / "README.md").read_text()
        assert "stay_in_reach" in (tmp_path / "job2" / "README.md").read_text()  # on by default, not in the job
        project.store.update_run(project.store.create_run("rloo", {"uncertainty_penalty": 0.0, "stay_in_reach": False}),
                                 status="finished")
        export_job(project, "rloo", tmp_path / "job3")
        assert "cautious reward" not in (tmp_path / "job3" / "README.md").read_text()
        assert "stay_in_reach" not in (tmp_path / "job3" / "README.md").read_text()
    finally:
        project.close()
