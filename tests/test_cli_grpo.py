"""`train grpo` from the command line: a stored run from the SFT policy against the reward model, one line for a
bad setting before any model loads, a real SIGKILL mid-run whose resume ends where an uninterrupted run does, and
the exported TRL GRPOTrainer job carrying the settings under TRL's names."""
import json
import os
import random
import subprocess

from studio.cli import main
from studio.core.store import Store
from tests.kill_harness import ROOT, TRAIN_SETTINGS, child_env, kill_and_resume, seed_project, studio_command
from tests.test_cli_rloo import trained_project


def test_train_grpo_from_the_cli_stores_a_policy_run(tmp_path, tiny_model_dir, capsys):
    root = trained_project(tmp_path, tiny_model_dir)
    capsys.readouterr()
    assert main(["train", "grpo", str(root), "--steps", "2", "--batch-size", "2", "--set", "samples_per_prompt=3",
                 "--set", "max_new_tokens=6", "--set", "beta=0.04", "--set", "loss_type=dr_grpo",
                 "--set", "scale_rewards=none"]) == 0
    assert "run 3 (grpo) finished at step 2" in capsys.readouterr().out
    with Store(root / "studio.db") as store:
        run = store.resolve_run("latest:grpo")
        assert (run.kind, run.parent, run.config["_reward"], run.config["loss_type"]) == ("grpo", 1, "2", "dr_grpo")
        assert {m["name"] for m in store.metrics(run.id)} >= {"reward", "reward/reward_model", "kl", "entropy",
                                                              "clip_frac_low", "clip_frac_high", "reward_std"}
        assert len(store.samples(run.id)) == 2 * 4  # samples_per_iteration rows per round


def test_bad_grpo_settings_are_one_line_before_the_model_loads(tmp_path, tiny_model_dir, capsys):
    root = seed_project(tmp_path / "p", tiny_model_dir).root  # no reward run either: the setting is refused first
    for setting, message in [("samples_per_prompt=1", "samples_per_prompt must be at least 2"),
                             ("loss_type=token", "loss_type must be one of dapo, grpo, dr_grpo"),
                             ("beta=-1", "beta must be 0 or more")]:
        capsys.readouterr()
        assert main(["train", "grpo", str(root), "--set", setting]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    with Store(root / "studio.db") as store:
        assert store.runs("grpo") == []


def test_the_grpo_job_names_trls_settings(tmp_path, tiny_model_dir):
    root = trained_project(tmp_path, tiny_model_dir)
    assert main(["train", "grpo", str(root), "--steps", "1", "--batch-size", "2", "--set", "samples_per_prompt=3",
                 "--set", "max_new_tokens=6", "--set", "epsilon_high=0.28", "--set", "epochs=2",
                 "--set", "scale_rewards=batch"]) == 0
    out = tmp_path / "job"
    assert main(["job", "export", str(root), "--kind", "grpo", "--out", str(out), "--init", "base"]) == 0
    yaml = dict(line.split(": ", 1) for line in (out / "trl_config.yaml").read_text().splitlines())
    expected = {"num_generations": "3", "max_completion_length": "6", "beta": "0.0", "epsilon": "0.2",
                "epsilon_high": "0.28", "loss_type": '"dapo"', "scale_rewards": '"batch"', "num_iterations": "2",
                "temperature": "1.0", "max_steps": "2", "per_device_train_batch_size": "6",
                "gradient_accumulation_steps": "1", "reward_model_name_or_path": '"reward_model"'}
    assert {k: yaml.get(k) for k in expected} == expected
    assert "trl.scripts.grpo" in (out / "launch.sh").read_text()
    assert json.loads((out / "job.json").read_text())["kind"] == "grpo"


def test_a_killed_grpo_run_resumes_to_what_an_uninterrupted_run_records(tmp_path, tiny_model_dir):
    root = trained_project(tmp_path, tiny_model_dir)
    (tmp_path / "logs").mkdir()
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))  # replay a kill point with FAULT_SEED
    print(f"FAULT_SEED={seed}")
    [killed] = kill_and_resume(root, ["grpo"], 4, random.Random(seed), tmp_path / "logs")
    assert killed.survived, killed.log
    straight = subprocess.run(studio_command("train", "grpo", root, "--steps", 4, "--device", "cpu",
                                             *TRAIN_SETTINGS["grpo"]),
                              cwd=ROOT, env=child_env(), capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    with Store(root / "studio.db") as store:
        runs = store.runs("grpo")
        resumed, uninterrupted = ({(m["step"], m["name"]): m["value"] for m in store.metrics(r.id)} for r in runs)
        assert [r.status for r in runs] == ["finished", "finished"]
    for step in range(killed.checkpoint_step + 1, 5):
        assert resumed[step, "reward"] == uninterrupted[step, "reward"], step  # the same samples and scores
        assert abs(resumed[step, "kl"] - uninterrupted[step, "kl"]) < 1e-5, step
    final = [json.loads((root / "runs" / str(r.id) / "checkpoint" / "meta.json").read_text())["step"] for r in runs]
    assert final == [4, 4]
