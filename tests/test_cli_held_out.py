"""The CLI says what every eval figure rests on: after `train`, in `status` and in `status --json`."""
import json

from studio.cli import main
from tests.test_cli import write


def test_train_and_status_give_the_held_out_size_and_warn(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj), "--model", str(tiny_model_dir)]) == 0
    prefs = [{"prompt": f"tell me about {topic}", "chosen": f"a banana {i}", "rejected": f"a lemon {i}"}
             for topic in ("cats", "rain", "tea", "maps", "jazz", "soup", "kites", "moss", "glass", "owls", "salt",
                           "rope") for i in range(2)]
    assert main(["prefs", "import", str(proj), str(write(tmp_path / "prefs.jsonl", prefs))]) == 0
    capsys.readouterr()
    assert main(["train", "reward", str(proj), "--steps", "2", "--batch-size", "2", "--set", "eval_fraction=0.1",
                 "--set", "lora_r=4", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "eval_accuracy=" in out and "(1 held-out prompt)" in out.split("eval_accuracy=")[1].split(",")[0]
    assert "Eval figures rest on 1 held-out prompt (of 12): too few" in out and "188 more ranked prompts" in out

    assert main(["status", str(proj), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert (run["held_out"]["size"], run["held_out"]["of"], run["held_out"]["unit"]) == (1, 12, "prompt")
    assert "188 more ranked prompts" in run["held_out"]["note"]
    assert (run["metrics"]["eval_size"], run["metrics"]["data_size"]) == (1, 12)
    assert main(["status", str(proj)]) == 0
    assert "Eval figures rest on 1 held-out prompt (of 12)" in capsys.readouterr().out
