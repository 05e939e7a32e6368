"""The CLI's error exits: one clear line on stderr, exit status 1 (2 for no subcommand), nothing changed."""
from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from studio.cli import main
from tests.test_cli import write


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    """A project with a finished SFT run (1) and a finished reward run (2) on the tiny model."""
    tmp = tmp_path_factory.mktemp("cli")
    proj = tmp / "p"
    main(["init", str(proj), "--model", str(tiny_model_dir)])
    write(tmp / "demos.jsonl", [{"prompt": f"q{i}", "completion": f"answer {i}"} for i in range(4)])
    write(tmp / "prefs.jsonl", [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(4)])
    main(["demos", "import", str(proj), str(tmp / "demos.jsonl")])
    main(["prefs", "import", str(proj), str(tmp / "prefs.jsonl")])
    assert main(["train", "sft", str(proj), "--steps", "2", "--set", "lr=0.05", "--set", "warmup_steps=0"]) == 0
    assert main(["train", "reward", str(proj), "--steps", "2"]) == 0
    return proj


def run(capsys, argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def runs(project, capsys) -> list[tuple[str, str]]:
    capsys.readouterr()
    main(["status", str(project), "--json"])
    return [(r["kind"], r["status"]) for r in json.loads(capsys.readouterr().out)["runs"]]


def test_no_subcommand_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


def test_bad_requests_exit_1_with_one_line(project, tmp_path, capsys):
    before = runs(project, capsys)
    write(tmp_path / "prompts.jsonl", [{"prompt": "q0"}])
    write(tmp_path / "answers.jsonl", [{"prompt": "q0", "completion": "yes"}])
    for argv, message in [
        (["train", "sft", project, "--resume", "1", "--set", "lr=1"], "--set cannot change a resumed run: it keeps the settings it started with"),
        (["score", project, tmp_path / "answers.jsonl", "--reward", "1"], "run 1 is a sft run, not a reward model"),
        (["sample", project, "--policy", "2", "--prompts", tmp_path / "prompts.jsonl", "--out", tmp_path / "o.jsonl"],
         "run 2 is a reward model, not a policy"),
        (["generate", project, "--per-prompt", "1"], "a comparison needs at least 2 responses per prompt"),
    ]:
        code, err = run(capsys, argv)
        assert code == 1 and err.strip().splitlines()[-1] == f"error: {message}", (argv, err)
    assert runs(project, capsys) == before and not (tmp_path / "o.jsonl").exists()


def test_a_diverged_run_exits_1_and_is_recorded(project, capsys, monkeypatch):
    from studio.training import sft

    monkeypatch.setattr(sft, "response_loss", lambda *args: torch.tensor(float("nan"), requires_grad=True))
    code, err = run(capsys, ["train", "sft", project, "--steps", "2"])
    assert code == 1 and "note: loss became nan at step 1" in err
    assert runs(project, capsys)[-1] == ("sft", "diverged")


def test_a_merged_export_has_the_adapters_logits(project, tmp_path, tiny_model_dir, capsys):
    assert run(capsys, ["export", project, "--run", "1", "--out", tmp_path / "merged", "--merged"])[0] == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                        project / "runs" / "1" / "adapter")
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.arange(5, 25)[None]
    with torch.no_grad():
        expected, got, base = (m(ids).logits for m in (adapted, merged, plain))
    assert not torch.allclose(expected, base, atol=1e-3)  # the adapter really changes the model
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_ppo_normalises_scores_by_the_reward_models_saved_statistics(project, capsys, monkeypatch):
    from studio.training import ppo
    from studio.training.engine import TrainResult
    from studio.training.heads import ScalarHead, load_heads

    seen = {}
    monkeypatch.setattr(ppo, "train_ppo", lambda *args, **kwargs: seen.update(kwargs) or TrainResult("cancelled", 0))
    run(capsys, ["train", "ppo", project, "--steps", "1"])
    meta = load_heads({"reward_head": ScalarHead(64)}, project / "runs" / "2" / "heads.safetensors")
    assert seen["score_norm"] == (meta["mean"], meta["std"]) and meta["std"] != 1.0


@pytest.mark.parametrize("argv", [["pack", "export", "{p}", "--out", "{o}", "--count", "-1"],
                                  ["pack", "export", "{p}", "--out", "{o}", "--answers", "two"],
                                  ["label", "rule", "{p}", "--rule", "longer", "--limit", "-3"]])
def test_a_negative_count_is_refused_before_anything_runs(project, tmp_path, capsys, argv):
    before = runs(project, capsys)
    with pytest.raises(SystemExit) as exit_:
        main([a.format(p=project, o=tmp_path / "x.pack") for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "expected a whole number, 0 or more" in err.splitlines()[-1]
    assert runs(project, capsys) == before and not (tmp_path / "x.pack").exists()
