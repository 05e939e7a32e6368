"""Ratings and KTO headless: `ratings import|export`, `status`, `train kto` (and resume), rating pairs for the
reward model and DPO."""
import json

from studio.cli import main
from studio.core.project import Project
from studio.training.configs import KTOConfig
from studio.training.engine import Hooks
from studio.training.runs import open_base, train
from tests.test_cli import studio, write

RATED = [{"prompt": f"tell me about {topic}", "completion": f"{word} {topic}", "label": word == "banana"}
         for topic in ("cats", "rain", "tea", "maps", "jazz", "soup") for word in ("banana", "cherry")]
SMALL = ["--set", "max_length=48", "--set", "lora_r=4", "--set", "lora_alpha=8", "--set", "warmup_steps=0"]


def _status(capsys, proj) -> dict:
    capsys.readouterr()
    assert main(["status", str(proj), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ratings_import_export_and_a_bad_file_through_subprocess(tmp_path, tiny_model_dir):
    proj = tmp_path / "p"
    assert studio("init", proj, "--model", tiny_model_dir).returncode == 0
    assert "ratings" in studio("--help").stdout and "kto" in studio("train", "--help").stdout
    src = write(tmp_path / "ratings.jsonl", RATED)
    assert "imported 12 ratings" in studio("ratings", "import", proj, src).stdout
    assert "exported 12 ratings" in studio("ratings", "export", proj, tmp_path / "out.jsonl").stdout
    assert (tmp_path / "out.jsonl").read_bytes() == src.read_bytes()

    bad = write(tmp_path / "bad.jsonl", [{"prompt": "new", "completion": "x", "label": True},
                                         {"prompt": "new", "completion": "y", "label": "no"}])
    result = studio("ratings", "import", proj, bad)
    assert result.returncode == 1 and "line 2" in result.stderr and '"label" must be true or false' in result.stderr
    status = json.loads(studio("status", proj, "--json").stdout)
    assert (status["ratings"], status["rated_good"], status["rated_bad"]) == (12, 6, 6)  # nothing from bad.jsonl
    assert status["rating_pairs"] == 6 and status["prompts"] == 6


def test_kto_reward_and_dpo_train_on_ratings_alone(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    main(["init", str(proj), "--model", str(tiny_model_dir)])
    main(["ratings", "import", str(proj), str(write(tmp_path / "r.jsonl", RATED))])
    write(tmp_path / "demos.jsonl", [{"prompt": r["prompt"], "completion": r["completion"]} for r in RATED[::2]])
    main(["demos", "import", str(proj), str(tmp_path / "demos.jsonl")])
    assert main(["train", "sft", str(proj), "--steps", "2", "--batch-size", "2", *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "kto", str(proj), "--steps", "3", "--batch-size", "4", *SMALL]) == 0
    out = capsys.readouterr()
    assert "run 2 (kto) finished at step 3" in out.out and "desirable_weight" not in out.err  # 6 good, 6 bad
    # no ranking at all: the liked/disliked answers are the reward model's and DPO's only pairs
    assert main(["train", "reward", str(proj), "--steps", "2", *SMALL]) == 0
    assert main(["train", "dpo", str(proj), "--steps", "2", *SMALL]) == 0
    runs = _status(capsys, proj)["runs"]
    assert [(r["kind"], r["status"], r["parent"]) for r in runs] == [
        ("sft", "finished", None), ("kto", "finished", 1), ("reward", "finished", None), ("dpo", "finished", 1)]
    assert {"loss", "kl", "chosen_reward", "rejected_reward", "margin"} <= set(runs[1]["metrics"])
    assert main(["export", str(proj), "--run", "latest:kto", "--out", str(tmp_path / "adapter")]) == 0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_a_stopped_kto_run_resumes_to_its_last_step(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    main(["init", str(proj), "--model", str(tiny_model_dir)])
    main(["ratings", "import", str(proj), str(write(tmp_path / "r.jsonl", RATED))])
    project = Project.open(proj)
    config = KTOConfig(steps=4, batch_size=4, max_length=48, lora_r=4, lora_alpha=8, checkpoint_every=1)
    seen = []
    run_id, result = train(project, open_base(project, device="cpu"), "kto", config,
                           Hooks(on_metrics=lambda step, m: seen.append(step), should_stop=lambda: len(seen) >= 2))
    assert (result.status, result.step) == ("cancelled", 2)
    assert project.store.run(run_id).status == "cancelled"
    project.close()
    capsys.readouterr()
    assert main(["train", "kto", str(proj), "--resume", str(run_id)]) == 0
    assert f"run {run_id} (kto) finished at step 4" in capsys.readouterr().out
    steps = [m["step"] for m in Project.open(proj).store.metrics(run_id) if m["name"] == "loss"]
    assert steps == [1, 2, 3, 4]


def test_train_kto_notes_weights_that_do_not_suit_the_ratings(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    main(["init", str(proj), "--model", str(tiny_model_dir)])
    main(["ratings", "import", str(proj), str(write(tmp_path / "r.jsonl", RATED[:5]))])  # 3 good, 2 bad
    capsys.readouterr()
    assert main(["train", "kto", str(proj), "--steps", "1", "--batch-size", "2", *SMALL]) == 0
    assert "note: 3 answers rated good and 2 bad: for KTO set desirable_weight to 0.67-0.89" in capsys.readouterr().err
