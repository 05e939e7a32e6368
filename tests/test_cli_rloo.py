"""`train rloo` from the command line: a stored run from the SFT policy against the reward model, and a real
SIGKILL mid-run whose resume ends exactly where an uninterrupted run does."""
import json
import os
import random
import subprocess

from studio.cli import main
from studio.core.store import Store
from tests.kill_harness import (ROOT, TRAIN_SETTINGS, child_env, kill_and_resume, seed_project,
                                studio_command)


def trained_project(tmp_path, tiny_model_dir):
    """A tiny project with finished sft (run 1) and reward (run 2) runs."""
    root = seed_project(tmp_path / "p", tiny_model_dir).root
    assert main(["train", "sft", str(root), "--steps", "2", "--batch-size", "2"]) == 0
    assert main(["train", "reward", str(root), "--steps", "2", "--batch-size", "2"]) == 0
    return root


def test_train_rloo_from_the_cli_stores_a_policy_run(tmp_path, tiny_model_dir, capsys):
    root = trained_project(tmp_path, tiny_model_dir)
    capsys.readouterr()
    assert main(["train", "rloo", str(root), "--steps", "2", "--batch-size", "2", "--set", "samples_per_prompt=3",
                 "--set", "max_new_tokens=6"]) == 0
    assert "run 3 (rloo) finished at step 2" in capsys.readouterr().out
    with Store(root / "studio.db") as store:
        run = store.resolve_run("latest:rloo")
        assert (run.kind, run.parent, run.config["_reward"], run.config["samples_per_prompt"]) == ("rloo", 1, "2", 3)
        assert {m["name"] for m in store.metrics(run.id)} >= {"reward", "kl", "rlhf_reward", "entropy"}
        assert len(store.samples(run.id)) == 2 * 4  # samples_per_iteration rows per round
    out = tmp_path / "answers.jsonl"
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "prompt 1"}\n')
    assert main(["sample", str(root), "--policy", "latest:rloo", "--prompts", str(tmp_path / "prompts.jsonl"),
                 "--out", str(out), "--max-new-tokens", "4"]) == 0
    assert len(out.read_text().splitlines()) == 1
    assert main(["train", "rloo", str(root), "--set", "samples_per_prompt=1"]) == 1
    assert "samples_per_prompt must be at least 2" in capsys.readouterr().err


def test_a_killed_rloo_run_resumes_to_what_an_uninterrupted_run_records(tmp_path, tiny_model_dir):
    root = trained_project(tmp_path, tiny_model_dir)
    (tmp_path / "logs").mkdir()
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))  # replay a kill point with FAULT_SEED
    print(f"FAULT_SEED={seed}")
    [killed] = kill_and_resume(root, ["rloo"], 4, random.Random(seed), tmp_path / "logs")
    assert killed.survived, killed.log
    straight = subprocess.run(studio_command("train", "rloo", root, "--steps", 4, "--device", "cpu",
                                             *TRAIN_SETTINGS["rloo"]),
                              cwd=ROOT, env=child_env(), capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    with Store(root / "studio.db") as store:
        runs = store.runs("rloo")
        resumed, uninterrupted = ({(m["step"], m["name"]): m["value"] for m in store.metrics(r.id)} for r in runs)
        assert [r.status for r in runs] == ["finished", "finished"]
    for step in range(killed.checkpoint_step + 1, 5):
        assert resumed[step, "reward"] == uninterrupted[step, "reward"], step  # the same samples and scores
        assert abs(resumed[step, "kl"] - uninterrupted[step, "kl"]) < 1e-5, step
    final = [json.loads((root / "runs" / str(r.id) / "checkpoint" / "meta.json").read_text())["step"] for r in runs]
    assert final == [4, 4]
