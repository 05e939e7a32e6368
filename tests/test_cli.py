"""The headless CLI, driven as a user would: through subprocesses and the same entry in-process."""
import json
import subprocess
import sys
from pathlib import Path

from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]


def studio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_help_lists_every_subcommand():
    out = studio("--help").stdout
    for cmd in ["init", "demos", "prompts", "generate", "comparisons", "rankings", "prefs", "status", "train",
                "sample", "score", "export"]:
        assert cmd in out
    assert "--per-prompt" in studio("generate", "--help").stdout


def test_data_round_trip_and_bad_input_through_subprocess(tmp_path, tiny_model_dir):
    proj = tmp_path / "p"
    assert studio("init", proj, "--model", tiny_model_dir).returncode == 0
    demos = write(tmp_path / "demos.jsonl", [{"prompt": "Say hi", "completion": "Hi!"},
                                             {"prompt": "Capital of France?", "completion": "Paris — of course."}])
    assert "imported 2" in studio("demos", "import", proj, demos).stdout
    assert studio("demos", "export", proj, tmp_path / "out.jsonl").returncode == 0
    assert (tmp_path / "out.jsonl").read_bytes() == demos.read_bytes()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok", "completion": "fine"}\n{"prompt": "x", "completion": 3}\n')
    result = studio("demos", "import", proj, bad)
    assert result.returncode == 1 and "line 2" in result.stderr, result.stderr
    status = json.loads(studio("status", proj, "--json").stdout)
    assert status["demonstrations"] == 2  # nothing from the bad file


def test_pipeline_on_tiny_model(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj), "--model", str(tiny_model_dir)]) == 0
    write(tmp_path / "demos.jsonl", [{"prompt": f"q{i}", "completion": f"answer {i}"} for i in range(4)])
    write(tmp_path / "prompts.jsonl", [{"prompt": f"prompt {i}"} for i in range(4)])
    assert main(["demos", "import", str(proj), str(tmp_path / "demos.jsonl")]) == 0
    assert main(["prompts", "import", str(proj), str(tmp_path / "prompts.jsonl")]) == 0
    assert main(["generate", str(proj), "--per-prompt", "3", "--max-new-tokens", "6", "--seed", "1"]) == 0
    assert main(["comparisons", "export", str(proj), str(tmp_path / "todo.jsonl")]) == 0
    todo = [json.loads(line) for line in (tmp_path / "todo.jsonl").read_text().splitlines()]
    assert len(todo) == 4 and all(len(t["responses"]) == 3 for t in todo)
    ranked = [{"comparison_id": t["comparison_id"], "ranking": [2, 0, 1], "annotator": "ann"} for t in todo[:3]]
    write(tmp_path / "ranked.jsonl", ranked + [{"comparison_id": todo[3]["comparison_id"], "skip": True}])
    assert main(["rankings", "import", str(proj), str(tmp_path / "ranked.jsonl")]) == 0
    assert main(["prefs", "export", str(proj), str(tmp_path / "prefs.jsonl")]) == 0
    pairs = [json.loads(line) for line in (tmp_path / "prefs.jsonl").read_text().splitlines()]
    assert len(pairs) == 9  # 3 rankings x C(3, 2)
    assert pairs[0]["chosen"] == todo[0]["responses"][2]

    capsys.readouterr()
    assert main(["train", "sft", str(proj), "--steps", "3", "--batch-size", "2"]) == 0
    assert "run 1 (sft) finished at step 3" in capsys.readouterr().out
    assert main(["train", "reward", str(proj), "--steps", "3"]) == 0
    assert main(["train", "ppo", str(proj), "--steps", "2", "--batch-size", "2"]) == 0
    assert main(["train", "dpo", str(proj), "--steps", "2"]) == 0
    status = json.loads(_out(capsys, ["status", str(proj), "--json"]))
    assert [(r["kind"], r["status"]) for r in status["runs"]] == [
        ("sft", "finished"), ("reward", "finished"), ("ppo", "finished"), ("dpo", "finished")]
    assert status["runs"][2]["parent"] == 1

    assert main(["sample", str(proj), "--policy", "latest:ppo", "--prompts", str(tmp_path / "prompts.jsonl"),
                 "--out", str(tmp_path / "answers.jsonl"), "--max-new-tokens", "5"]) == 0
    assert main(["score", str(proj), str(tmp_path / "answers.jsonl")]) == 0
    scored = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert len(scored) == 4 and all(isinstance(r["reward"], float) for r in scored)

    assert main(["export", str(proj), "--run", "latest:dpo", "--out", str(tmp_path / "adapter")]) == 0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert main(["export", str(proj), "--run", "latest:sft", "--out", str(tmp_path / "merged"), "--merged"]) == 0
    assert (tmp_path / "merged" / "model.safetensors").is_file()  # its logits: tests/test_cli_errors.py
    assert not list((tmp_path / "merged").glob("*.bin"))


def test_unknown_run_and_empty_project_are_refused(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    main(["init", str(proj), "--model", str(tiny_model_dir)])
    assert main(["train", "ppo", str(proj)]) == 1
    assert "reward" in capsys.readouterr().err
    assert main(["export", str(proj), "--run", "7", "--out", str(tmp_path / "x")]) == 1
    assert main(["status", str(tmp_path / "nope")]) == 1
    assert "not an Alignment Studio project" in capsys.readouterr().err


def _out(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_settings_an_engine_cannot_run_with_are_refused_before_a_run_exists(tmp_path, tiny_model_dir, capsys):
    proj = tmp_path / "p"
    main(["init", str(proj), "--model", str(tiny_model_dir)])
    write(tmp_path / "demos.jsonl", [{"prompt": "q", "completion": "a"}])
    main(["demos", "import", str(proj), str(tmp_path / "demos.jsonl")])
    capsys.readouterr()
    assert main(["train", "sft", str(proj), "--set", "checkpoint_every=0"]) == 1
    assert "checkpoint_every must be at least 1" in capsys.readouterr().err
    assert main(["train", "sft", str(proj), "--lr", "0"]) == 1
    assert json.loads(_out(capsys, ["status", str(proj), "--json"]))["runs"] == []


def test_generate_without_a_length_uses_the_devices_default(tmp_path, tiny_model_dir, monkeypatch):
    from studio.core import answer_length
    from studio.core.project import Project

    proj = tmp_path / "p"
    assert main(["init", str(proj), "--model", str(tiny_model_dir)]) == 0
    assert main(["prompts", "import", str(proj), str(write(tmp_path / "q.jsonl", [{"prompt": "hi"}]))]) == 0
    monkeypatch.setitem(answer_length.ANSWER_TOKENS, "cpu", 3)
    assert main(["generate", str(proj), "--device", "cpu", "--seed", "0"]) == 0
    assert main(["prompts", "import", str(proj), str(write(tmp_path / "r.jsonl", [{"prompt": "ho"}]))]) == 0
    assert main(["generate", str(proj), "--device", "cpu", "--max-new-tokens", "4", "--seed", "0"]) == 0
    store = Project.open(proj).store
    assert [r.settings["max_new_tokens"] for r in store.responses()] == [3, 3, 4, 4]
    assert "48 on a CPU" in studio("sample", "--help").stdout
