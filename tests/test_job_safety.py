"""Exported jobs carry the newest run's settings, refuse settings of the wrong type, and their launch.sh passes
every value to the engine literally (issue 23 item 3, issue 24's "oldest run's settings")."""
import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from studio.core.jobs import JobSpec, write_job
from studio.core.project import Project
from studio.core.store import Store
from tests.test_data_safety import error_line, run

HOSTILE = "${HOME}$(touch pwned) it's `touch pwned2` \"$(touch pwned3)\""
FAKE_BIN = '#!/bin/bash\nprintf "%s\\0" "$(basename "$0")" "$@" > "$RECORD"\n'


def add_runs(root: Path, kind: str, *configs: dict) -> list[int]:
    project = Project.open(root)
    try:
        return [project.store.create_run(kind, config) for config in configs]
    finally:
        project.close()


def yaml_values(path: Path) -> dict:
    """trl_config.yaml's top-level `key: JSON value` lines (the studio writes JSON scalars, valid YAML)."""
    return {key: json.loads(value) for key, _, value in
            (line.partition(": ") for line in path.read_text().splitlines() if not line.startswith(" "))
            if value}


def test_job_export_carries_the_newest_runs_settings(capsys, project, tmp_path):
    add_runs(project, "sft", {"lr": 1e-3, "steps": 3, "lora_r": 4}, {"lr": 2e-4, "steps": 5, "lora_r": 8})
    add_runs(project, "dpo", {"lr": 9e-9})  # another kind's newer run changes nothing
    rc, out, err = run(capsys, "job", "export", project, "--kind", "sft", "--out", tmp_path / "job")
    assert rc == 0, err
    settings = yaml_values(tmp_path / "job" / "trl_config.yaml")
    assert (settings["learning_rate"], settings["max_steps"], settings["lora_r"]) == (2e-4, 5, 8)
    config = json.loads((tmp_path / "job" / "job.json").read_text())["config"]
    assert (config["lr"], config["steps"], config["lora_r"]) == (2e-4, 5, 8)


@pytest.mark.parametrize("kind, key, value", [
    ("ppo", "temperature", HOSTILE), ("sft", "lr", "1e-4; touch pwned"), ("sft", "steps", 2.5),
    ("sft", "gradient_checkpointing", "yes"), ("dpo", "beta", True), ("sft", "max_length", None),
    ("rloo", "lr", -1.0)])
def test_a_bad_stored_setting_is_refused_with_one_line_and_nothing_written(capsys, monkeypatch, project, tmp_path,
                                                                           kind, key, value):
    monkeypatch.chdir(tmp_path)
    [run_id] = add_runs(project, kind, {key: value})
    rc, _, err = run(capsys, "job", "export", project, "--kind", kind, "--out", tmp_path / "job")
    line = error_line(err)
    assert rc == 1 and f"run {run_id}'s settings" in line and key in line
    assert not (tmp_path / "job").exists() and not list(tmp_path.glob("pwned*"))


@dataclasses.dataclass
class Hostile:
    """Settings whose types allow text, so that only quoting stands between them and the shell."""

    temperature: str = HOSTILE
    lr: str = HOSTILE
    batch_size: int = 4


def run_launch(job: Path, tmp_path: Path) -> list[str]:
    """Run job/launch.sh with bash, every engine on PATH replaced by a script that records its argv."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    for name in ("accelerate", "torchrun", "ray", "python", "python3"):
        (fake / name).write_text(FAKE_BIN)
        (fake / name).chmod(0o755)
    record = tmp_path / "argv"
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "RECORD": str(record)}
    subprocess.run(["bash", str(job / "launch.sh"), HOSTILE], env=env, cwd=tmp_path, check=True, timeout=60)
    return record.read_bytes().decode().split("\0")[:-1]


@pytest.mark.parametrize("kind", ["ppo", "dpo"])
def test_launch_sh_passes_hostile_values_literally_and_runs_none(tmp_path, kind):
    store = Store(tmp_path / "studio.db")
    pid = store.add_prompt("Q")
    ids = [store.add_response(pid, text, "base") for text in "ab"]
    store.add_ranking(store.add_comparison(pid, ids), [[0], [1]])
    model = f"/models/{HOSTILE}"
    write_job(store, JobSpec(kind, model, Hostile(), reward_model="reward_model"), tmp_path / "job")
    argv = run_launch(tmp_path / "job", tmp_path)
    assert not list(tmp_path.rglob("pwned*")) and not os.path.exists(Path.home() / "pwned")
    assert argv[-1] == HOSTILE  # the user's own extra argument, passed on untouched
    if kind == "ppo":  # OpenRLHF takes every setting on the command line
        pairs = dict(zip(argv, argv[1:]))
        assert argv[0] == "ray" and pairs["--rollout.temperature"] == HOSTILE
        assert pairs["--actor.adam.lr"] == HOSTILE and pairs["--actor.model_name_or_path"] == model
        assert pairs["--actor.num_gpus_per_node"] == "1"  # launch.sh's own variables still expand
    else:  # TRL reads them from its YAML
        assert argv[0] == "accelerate" and "--config" in argv
        settings = yaml_values(tmp_path / "job" / "trl_config.yaml")
        assert settings["temperature"] == settings["learning_rate"] == HOSTILE
        assert settings["model_name_or_path"] == model
