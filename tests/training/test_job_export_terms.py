"""Issue 28: an exported GRPO/RLOO job optimises the run's reward terms, not the reward model alone: each rule term
is a TRL reward function in the job's `job_rewards.py` (scoring as the studio does) with the run's weight; a term no
job can carry (the judge, a --reward-file function, any non-rm term of a PPO job on OpenRLHF) is one line and no
folder. The model work (merging, writing the reward model) is recorded, not done."""
import ast
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from studio.cli import main
from studio.core.job_rewards import FILE_NAME, rewards_source
from studio.core.jobs import JobSpec, trl_config
from studio.core.project import Project
from studio.core.reward_terms import TERMS_KEY, parse_terms
from studio.training import reward_export
from studio.training import runs as run_module
from studio.training.job_export import export_job
from studio.training.online_configs import RLOOConfig
from tests.test_jobs_trl import free_port

REPO = Path(__file__).resolve().parents[2]
TRL_PYTHON = REPO / "bench" / ".venv-trl116" / "bin" / "python"
STD = 2.0  # the fake reward model's training std
ANSWERS = ["It is 42.", "forty-two", "42.0", "I think 4,200 or 42", '{"n": 42}', "  It   is 42.  ", "", "x" * 30]


@pytest.fixture
def exports(monkeypatch):
    calls = []

    def fake_run(project, run_ref, out_dir, merged=False, force=False):
        calls.append(("policy", project.store.resolve_run(run_ref).id))
        out_dir.mkdir(parents=True)

    def fake_reward(project, run_ref, out_dir):
        calls.append(("reward", project.store.resolve_run(run_ref).id))
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text(json.dumps({"mean": 0.5, "std": STD}))

    monkeypatch.setattr(run_module, "export_run", fake_run)
    monkeypatch.setattr(reward_export, "export_reward_model", fake_reward)
    return calls


def with_run(root: Path, kind: str, terms: list[str] | None, answers: bool = True) -> Project:
    """The project at `root` with a finished reward run and a `kind` run of `terms`; every prompt has an answer."""
    project = Project.open(root)
    store = project.store
    if answers:
        for i, prompt in enumerate(store.prompts()):
            store.set_prompt_answer(prompt.id, str(40 + i))
    store.update_run(store.create_run("reward", {}), status="finished")
    store.update_run(store.create_run(kind, {TERMS_KEY: terms} if terms else {}), status="finished")
    return project


def yaml_settings(job: Path) -> dict:
    """trl_config.yaml as written (`key: JSON` lines; nested blocks left out)."""
    lines = (job / "trl_config.yaml").read_text().splitlines()
    return {k: json.loads(v) for k, _, v in (line.partition(": ") for line in lines) if v and not k.startswith(" ")}


def load_rewards(path: Path):
    spec = importlib.util.spec_from_file_location("job_rewards_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_a_rule_and_reward_model_run_exports_both_with_the_runs_weights(project, tmp_path, exports, kind):
    project = with_run(project, kind, ["0.5*rm", "2*rule:number"])
    try:
        export_job(project, kind, tmp_path / "job", init="base")
        job = tmp_path / "job"
        settings = yaml_settings(job)
        assert settings["reward_model_name_or_path"] == "reward_model"
        assert settings["reward_funcs"] == ["job_rewards.rule_1_number"]
        assert settings["reward_weights"] == [0.5 / STD, 2.0]  # TRL weights the raw score: 0.5 / std
        records = [json.loads(line) for line in (job / "data" / "train.jsonl").read_text().splitlines()]
        assert {r["prompt"][0]["content"]: r["answer"] for r in records} == {
            p.text: p.answer for p in project.store.prompts()}
        number = load_rewards(job / FILE_NAME).rule_1_number
        completions = [[{"role": "assistant", "content": a}] for a in ("it is 41", "41.0", "40")]
        assert number(prompts=[], completions=completions, answer=["41", "41", "41"], trainer_state=None) == [1, 1, 0]
        readme = (job / "README.md").read_text()
        assert "0.5*rm, 2*rule:number" in readme and FILE_NAME in readme
        assert exports == [("reward", 1)]
    finally:
        project.close()


def test_a_rule_only_run_needs_no_reward_model(project, tmp_path, exports):
    project = with_run(project, "grpo", ["rule:shorter:20", "-1*rule:avoids:sorry"], answers=False)
    try:
        export_job(project, "grpo", tmp_path / "job", init="base")
        settings = yaml_settings(tmp_path / "job")
        assert "reward_model_name_or_path" not in settings and exports == []
        assert settings["reward_funcs"] == ["job_rewards.rule_1_shorter", "job_rewards.rule_2_avoids"]
        assert settings["reward_weights"] == [1.0, -1.0]
        assert "answer" not in (tmp_path / "job" / "data" / "train.jsonl").read_text()
    finally:
        project.close()


def test_the_jobs_functions_score_every_rule_exactly_as_the_studios_terms(tmp_path):
    texts = ["rule:number", "rule:matches", "rule:shorter:10", "rule:longer:8", "rule:contains:IT IS",
             "rule:avoids:42", r"rule:regex:^\s*\{", "rule:json"]
    terms = parse_terms(texts)
    (tmp_path / FILE_NAME).write_text(rewards_source(terms))
    module = load_rewards(tmp_path / FILE_NAME)
    references = ["42"] * len(ANSWERS)
    completions = [[{"role": "assistant", "content": a}] for a in ANSWERS]
    for i, term in enumerate(terms, 1):
        function = getattr(module, f"rule_{i}_{term.rule}")
        expected = [term.score(a, r) for a, r in zip(ANSWERS, references)]
        assert function(prompts=[], completions=completions, answer=references) == expected, term.text
        assert function(prompts=[], completions=ANSWERS, answer=references) == expected  # TRL's plain text too
    number = getattr(module, "rule_1_number")  # by hand: 42, none, 42.0 = 42, the last number 42, 42, 42, none, none
    assert number(prompts=[], completions=ANSWERS, answer=references) == [1, 0, 1, 1, 1, 1, 0, 0]
    tree = ast.parse((tmp_path / FILE_NAME).read_text())  # self-contained: no studio on the cluster
    assert {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names} == {
        "json", "math", "re", "regex"}


@pytest.mark.parametrize("kind, terms, named", [
    ("grpo", ["rm", "judge:prefer the kind answer"], "judge:prefer the kind answer"),
    ("rloo", ["2*file:my_reward"], "2*file:my_reward"),
    ("ppo", ["rm", "rule:json"], "rule:json"),
    ("ppo", ["0.5*rm"], "0.5*rm")])
def test_a_term_no_job_can_carry_is_one_line_and_no_folder(project, tmp_path, exports, capsys, kind, terms, named):
    with_run(project, kind, terms).close()
    out = tmp_path / "job"
    assert main(["job", "export", str(project), "--kind", kind, "--out", str(out), "--init", "base"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and f"reward term {named} " in err, err
    assert not out.exists() and exports == []


def test_an_rloo_job_counts_completions_as_trl_does():
    """bench/trl_rloo.py: TRL's per_device_train_batch_size is prompts x k completions."""
    settings = trl_config(JobSpec("rloo", "m", RLOOConfig(batch_size=3, samples_per_prompt=4, iterations=5,
                                                          epochs=2, cliprange=0.3)))
    assert settings["per_device_train_batch_size"] == 12 and settings["num_generations"] == 4
    assert settings["max_steps"] == 10 and settings["num_iterations"] == 2 and settings["epsilon"] == 0.3


@pytest.mark.slow
@pytest.mark.skipif(not TRL_PYTHON.exists(), reason="bench/.venv-trl116 is missing (bench/setup_trl116_venv.sh)")
def test_trl_116_reads_the_jobs_reward_settings_and_runs_its_functions(project, tmp_path, exports):
    project = with_run(project, "grpo", ["0.5*rm", "2*rule:number", r"rule:regex:\d"])
    try:
        export_job(project, "grpo", tmp_path / "job", init="base")
    finally:
        project.close()
    check = ("import trl.scripts.grpo as m, job_rewards as r; s, t, *_ = m.make_parser().parse_args_and_config("
             "['--config', 'trl_config.yaml', '--use_cpu', 'true', '--bf16', 'false']); "
             "print(s.reward_funcs, t.reward_weights, "
             "r.rule_1_number([], [[{'role': 'assistant', 'content': 'so 7'}], 'eight'], answer=['7', '8']), "
             "r.rule_2_regex([], ['a1', 'b']))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(TRL_PYTHON), "-c", check], cwd=tmp_path / "job", env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == (
        f"['job_rewards.rule_1_number', 'job_rewards.rule_2_regex'] [{0.5 / STD}, 2.0, 1.0] [1.0, 0.0] [1.0, 0.0]")


@pytest.mark.slow
@pytest.mark.skipif(not TRL_PYTHON.exists(), reason="bench/.venv-trl116 is missing (bench/setup_trl116_venv.sh)")
def test_a_rule_only_grpo_job_trains_one_step_with_trl_on_its_rule_functions(tiny_model_dir, tmp_path):
    project = Project.init(tmp_path / "proj", model=str(tiny_model_dir))
    try:
        for i in range(4):
            project.store.set_prompt_answer(project.store.add_prompt(f"what is {i}+1?"), str(i + 1))
        config = {"iterations": 1, "batch_size": 2, "samples_per_prompt": 2, "max_new_tokens": 8,
                  TERMS_KEY: ["2*rule:number", "rule:shorter:5"]}
        project.store.update_run(project.store.create_run("grpo", config), status="finished")
        export_job(project, "grpo", tmp_path / "job", init="base")
    finally:
        project.close()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PATH=f"{TRL_PYTHON.parent}:{env['PATH']}", LAUNCHER="torchrun", CPU="1", GPUS="1",
               MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(["bash", str(tmp_path / "job" / "launch.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "'rewards/rule_1_number/mean'" in proc.stdout + proc.stderr  # TRL called the job's rule functions
    assert "'rewards/rule_2_shorter/mean'" in proc.stdout + proc.stderr
