"""`studio rm-report` and the alarms of `studio status`, in-process on the tiny model."""
import json

from studio.cli import main
from studio.core import oversight_store as ov
from studio.core.monitor import Alarm
from studio.core.project import Project
from tests.test_cli import write
from tests.training.helpers import marker_pairs


def test_rm_report_matches_the_runs_held_out_accuracy(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj), "--model", str(tiny_model_dir)]) == 0
    write(tmp_path / "prefs.jsonl", marker_pairs(40, seed=2))
    assert main(["prefs", "import", str(proj), str(tmp_path / "prefs.jsonl")]) == 0
    assert main(["train", "reward", str(proj), "--steps", "3", "--batch-size", "4", "--set", "max_length=48",
                 "--set", "lora_r=4", "--set", "eval_fraction=0.25", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["rm-report", str(proj), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    run = Project.open(proj).store.resolve_run("latest:reward")
    assert report["split"] == "held-out" and report["pairs"] == 10    # 5 of 20 prompts, 2 pairs each
    assert report["accuracy"] == run.final_metrics["eval_accuracy"]
    assert sum(b["count"] for b in report["bins"]) == 20              # both orientations of each pair
    assert main(["rm-report", str(proj)]) == 0
    assert "ECE" in capsys.readouterr().out
    assert main(["rm-report", str(proj), "--reward", "99"]) == 1


def test_status_lists_alarms(tmp_path, capsys):
    proj = Project.init(tmp_path / "p")
    run = proj.store.create_run("ppo", {})
    ov.add_alarm(proj.store, run, Alarm("entropy", 3, 4, "entropy fell", "raise the KL coefficient"))
    assert main(["status", str(proj.root), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["runs"][0]["alarms"] == [{"signal": "entropy", "began": 3, "raised": 4,
                                            "message": "entropy fell", "action": "raise the KL coefficient"}]
    assert main(["status", str(proj.root)]) == 0
    assert "alarm entropy since round 3" in capsys.readouterr().out
