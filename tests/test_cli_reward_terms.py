"""`train ppo|rloo|grpo --reward-term`: a reward model term beside a rule, each stored as reward/<term> with the
terms in the run's config; bad terms, missing reference answers, bad weights and k < 2 are one line before any model loads,
with nothing written."""
import json

import pytest

from studio.cli import main
from studio.core.project import Project
from studio.core.store import Store
from tests.kill_harness import seed_project
from tests.test_cli_rloo import trained_project

SMALL = ["--steps", "1", "--batch-size", "2", "--set", "max_new_tokens=6"]


@pytest.mark.parametrize("kind", ["ppo", "rloo", "grpo"])
def test_a_reward_model_term_beside_a_rule_is_stored_per_term(tmp_path, tiny_model_dir, kind):
    root = trained_project(tmp_path, tiny_model_dir)
    group = [] if kind == "ppo" else ["--set", "samples_per_prompt=2"]
    assert main(["train", kind, str(root), *SMALL, *group, "--reward-term", "0.5*rm",
                 "--reward-term", "2*rule:longer:4"]) == 0
    with Store(root / "studio.db") as store:
        run = store.resolve_run(f"latest:{kind}")
        assert run.config["_reward_terms"] == ["0.5*rm", "2*rule:longer:4"] and run.config["_reward"] == "2"
        values = {m["name"]: m["value"] for m in store.metrics(run.id)}
        assert values["reward"] == pytest.approx(0.5 * values["reward/reward_model"] + 2 * values["reward/longer:4"],
                                                 abs=1e-5)


def bad_input_project(tmp_path, tiny_model_dir):
    project = seed_project(tmp_path / "p", tiny_model_dir)  # no reward run: a rule-only run needs none
    with Store(project.db_path) as store:
        store.set_prompt_answer(store.add_prompt("1+1?"), "2")
    return project.root


@pytest.mark.parametrize("arguments, message", [
    (["--reward-term", "rule:regex:(a"], "the regular expression '(a' is invalid"),
    (["--reward-term", "rule:number"], "needs a reference answer for every prompt, and 6 of 7 have none"),
    (["--reward-term", "heavy*rule:json"], "the weight 'heavy' of reward term 'heavy*rule:json' is not a number"),
    (["--reward-term", "rule:json", "--set", "samples_per_prompt=1"], "samples_per_prompt must be at least 2"),
    (["--reward-term", "rule:json", "--reward", "1"], "no reward term uses the reward model"),
    (["--reward-term", "rm"], "no finished reward run"),
    (["--reward-file", "missing.py:score"], "--reward-file: missing.py is not a file"),
    (["--reward-file", "score"], "--reward-file takes PATH.py:FUNCTION"),
])
def test_bad_terms_are_one_line_before_the_model_loads(tmp_path, tiny_model_dir, capsys, monkeypatch, arguments,
                                                       message):
    root = bad_input_project(tmp_path, tiny_model_dir)
    monkeypatch.setattr("studio.training.models.load_model", lambda *a, **k: pytest.fail("the model loaded"))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.name.startswith("studio.db")}
    capsys.readouterr()
    assert main(["train", "grpo", str(root), *arguments]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    with Store(root / "studio.db") as store:
        assert store.runs() == []
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.name.startswith("studio.db")} == before


def test_terms_go_only_to_online_runs(tmp_path, tiny_model_dir, capsys):
    root = bad_input_project(tmp_path, tiny_model_dir)
    with pytest.raises(SystemExit) as exited:  # argparse: SFT has no such option
        main(["train", "sft", str(root), "--reward-term", "rule:json"])
    assert exited.value.code == 2 and "unrecognized arguments: --reward-term" in capsys.readouterr().err


def test_a_rule_only_run_needs_no_reward_model_and_reads_reference_answers(tmp_path, tiny_model_dir):
    root = bad_input_project(tmp_path, tiny_model_dir)
    with Store(root / "studio.db") as store:
        for prompt in store.prompts():
            if prompt.answer is None:
                store.set_prompt_answer(prompt.id, "7")
    assert main(["train", "grpo", str(root), *SMALL, "--set", "samples_per_prompt=2",
                 "--reward-term", "rule:number", "--reward-term", "0.1*rule:shorter:target=5"]) == 0
    with Store(root / "studio.db") as store:
        run = store.resolve_run("latest:grpo")
        names = {m["name"] for m in store.metrics(run.id)}
        assert {"reward/number", "reward/shorter:5"} <= names and "reward/reward_model" not in names
        assert json.loads(json.dumps(run.config))["_reward"] is None


@pytest.mark.parametrize("arguments, message", [
    (["--reward-term", "rule:regex:(a"], "the regular expression '(a' is invalid"),
    (["--reward-term", "rm"], "no finished reward run"),
    (["--init", "latest:sft"], "no finished sft run yet"),
    ([], "(nothing was run)"),  # an empty project: no prompts to answer
])
def test_a_refused_command_never_runs_the_reward_file(tmp_path, tiny_model_dir, capsys, monkeypatch, arguments,
                                                      message):
    """The user's --reward-file runs (its top-level code) only once every other check has passed."""
    root = bad_input_project(tmp_path, tiny_model_dir) if arguments else Project.init(tmp_path / "empty",
                                                                                     model=str(tiny_model_dir)).root
    marker = tmp_path / "ran"
    reward_file = tmp_path / "mine.py"
    reward_file.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
                           "def score(p, a, r):\n    return [0.0] * len(a)\n", encoding="utf-8")
    monkeypatch.setattr("studio.training.models.load_model", lambda *a, **k: pytest.fail("the model loaded"))
    capsys.readouterr()
    assert main(["train", "grpo", str(root), *arguments, "--reward-file", f"{reward_file}:score"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not marker.exists()
