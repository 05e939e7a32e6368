"""Job folders for TRL / OpenRLHF: the data in TRL's formats, the settings mapped by field name, refusals."""
import json
import os
import subprocess
import sys
from pathlib import Path
from dataclasses import dataclass

import pytest

from studio.core.jobs import JobSpec, job_records, openrlhf_args, trl_config, write_job
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.core.run_import import import_run
from tests.core.test_run_import import write_adapter


@dataclass
class DPOish:
    steps: int = 7
    beta: float = 0.3
    lr: float = 5e-5
    lora_r: int = 8
    gradient_checkpointing: bool | None = None  # automatic: on in a job, where GPU memory is the limit
    colour: str = "blue"  # a field TRL has no counterpart for


def ranked(store):
    """"Q" with answers a > b > c: three pairs, each weight 1/3."""
    prompt_id = store.add_prompt("Q")
    ids = [store.add_response(prompt_id, text, "base") for text in "abc"]
    store.add_ranking(store.add_comparison(prompt_id, ids), [[0], [1], [2]])


def test_records_follow_trls_conversational_formats(store):
    store.add_demo("Hi", "Hello!", system="Be kind.")
    ranked(store)
    assert job_records(store, "sft") == [{"messages": [{"role": "system", "content": "Be kind."},
                                                       {"role": "user", "content": "Hi"},
                                                       {"role": "assistant", "content": "Hello!"}]}]
    dpo = job_records(store, "dpo")
    pairs = [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in dpo]
    assert pairs == [("a", "b"), ("a", "c"), ("b", "c")]
    assert dpo[0]["prompt"] == [{"role": "user", "content": "Q"}]
    assert job_records(store, "rloo") == [{"prompt": [{"role": "user", "content": "Q"}]}]


def test_a_kto_job_learns_from_the_ratings_the_studios_kto_learns_from(store):
    """Issue 25: the app's KTO trains on `Ratings.examples()`; an exported KTO job once trained on the rankings'
    pairs instead (the ranked comparison below would have given a > b, a > c, b > c)."""
    ranked(store)
    prompt_id = store.add_prompt("R")
    good, bad = (store.add_response(prompt_id, text, "base") for text in ("kind", "rude"))
    ratings = Ratings(store)
    ratings.add(good, True)
    ratings.add(bad, False, annotator="you")
    kto = job_records(store, "kto")
    assert kto == [{"prompt": [{"role": "user", "content": "R"}],
                    "completion": [{"role": "assistant", "content": "kind"}], "label": True},
                   {"prompt": [{"role": "user", "content": "R"}],
                    "completion": [{"role": "assistant", "content": "rude"}], "label": False}]
    assert [(r["prompt"][0]["content"], r["completion"][0]["content"], r["label"]) for r in kto] == [
        (e["prompt"], e["completion"], e["label"]) for e in ratings.examples()]


def test_a_kto_job_without_ratings_is_refused_even_with_rankings(store, tmp_path):
    ranked(store)
    with pytest.raises(ValueError, match="no rated answers for a kto job"):
        write_job(store, JobSpec("kto", "m"), tmp_path / "job")
    assert not (tmp_path / "job").exists()


def test_settings_map_to_trl_field_names_and_unknown_fields_are_left_out():
    settings = trl_config(JobSpec("dpo", "/models/smol", DPOish()))
    assert settings["max_steps"] == 7 and settings["beta"] == 0.3 and settings["learning_rate"] == 5e-5
    assert settings["lora_r"] == 8 and settings["lora_alpha"] == 32  # TRL's default kept where ours is missing
    assert settings["gradient_checkpointing"] is True
    assert "colour" not in settings and settings["model_name_or_path"] == "/models/smol"


def test_ppo_settings_become_openrlhf_flags():
    @dataclass
    class PPOish:
        iterations: int = 3
        init_kl_coef: float = 0.07
        cliprange: float = 0.25

        batch_size: int = 8
        minibatches: int = 2
        lr: float = 1e-4

    args = openrlhf_args(JobSpec("ppo", "model", PPOish(), reward_model="reward_model"), n_prompts=10)
    pairs = dict(zip(args, args[1:]))
    assert pairs["--algo.kl.init_coef"] == "0.07" and pairs["--actor.eps_clip"] == "0.25"
    assert pairs["--actor.adam.lr"] == pairs["--critic.adam.lr"] == "0.0001"
    assert pairs["--rollout.batch_size"] == "8" and pairs["--train.batch_size"] == "4"  # 2 updates per round
    assert pairs["--train.num_episodes"] == "3"  # 3 rounds of 8 prompts = 2.4 passes over 10 prompts, rounded up
    assert pairs["--reward.model_name_or_path"] == "reward_model"


def test_write_job_writes_everything_and_refuses_a_used_folder_or_missing_data(store, tmp_path):
    with pytest.raises(ValueError, match="no demonstrations for a sft job"):
        write_job(store, JobSpec("sft", "m"), tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
    store.add_demo("Hi", "Hello!")
    assert write_job(store, JobSpec("sft", "m", DPOish()), tmp_path / "job") == 1
    names = sorted(p.name for p in (tmp_path / "job").iterdir())
    assert names == ["README.md", "accelerate.yaml", "accelerate_zero2.yaml", "accelerate_zero3.yaml", "data",
                     "job.json", "launch.sh", "run_trl.py", "trl_config.yaml"]
    assert "max_steps: 7" in (tmp_path / "job" / "trl_config.yaml").read_text()
    assert "run_trl.py trl.scripts.sft --config trl_config.yaml" in (tmp_path / "job" / "launch.sh").read_text()
    with pytest.raises(ValueError, match="already exists and is not empty"):
        write_job(store, JobSpec("sft", "m"), tmp_path / "job")


FAKE_SCRIPT = """
import sys, weakref
import torch.distributed as dist
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
probe = weakref.ref(dist.group.WORLD)
dist.destroy_process_group()  # as TRL's trainer.end() does, while DDP may still hold the group
print(__name__, sys.argv[1:], "kept" if probe() is not None else "freed")
import atexit
atexit.register(lambda: print("at exit:", "kept" if probe() is not None else "freed"))
"""


def test_trl_runner_keeps_destroyed_groups_until_the_script_has_returned(tmp_path):
    """The job's run_trl.py runs the script as __main__ with its arguments, holds every destroyed process group
    while the script's objects are freed (a gloo rank hung for ever there), and lets them go afterwards."""
    (tmp_path / "fake_script.py").write_text(FAKE_SCRIPT)
    runner = Path(__file__).resolve().parents[2] / "resources" / "jobs" / "run_trl.py"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(runner), "fake_script", "--config", "x.yaml"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["__main__ ['--config', 'x.yaml'] kept", "at exit: freed"]


def fake_output(job: Path, kind: str = "sft", init_run=None) -> Path:
    out = job / "output"
    out.mkdir(parents=True)
    (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    write_adapter(out / "adapter_model.safetensors")
    (out / "training_args.bin").write_bytes(b"pickle")
    (job / "job.json").write_text(json.dumps({"kind": kind, "config": {"steps": 5}, "init_run": init_run}))
    return out


def test_import_copies_the_adapter_into_the_run_folder_without_pickles(tmp_path):
    project = Project.init(tmp_path / "proj", model="embedded")
    run_id = import_run(project, fake_output(tmp_path / "job"))
    run = project.store.run(run_id)
    assert (run.kind, run.status, run.step) == ("sft", "finished", 5)
    assert run.artifact == f"runs/{run_id}/adapter"  # relative: the project folder can move
    assert sorted(p.name for p in project.artifact_path(run).iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]


def test_import_refuses_pickle_adapters_and_a_failed_fold_leaves_no_run(tmp_path):
    project = Project.init(tmp_path / "proj", model="embedded")
    out = fake_output(tmp_path / "job", init_run=None)
    (out / "adapter_model.safetensors").unlink()
    with pytest.raises(ValueError, match="no adapter_model.safetensors"):
        import_run(project, out)
    base_run = import_run(project, fake_output(tmp_path / "job2"))
    out = fake_output(tmp_path / "job3", kind="dpo", init_run=base_run)

    def broken_fold(init_run, adapter_dir):
        raise RuntimeError("fold failed")

    with pytest.raises(RuntimeError, match="fold failed"):
        import_run(project, out, fold=broken_fold)
    assert [r.id for r in project.store.runs()] == [base_run]
    assert sorted(p.name for p in (project.root / "runs").iterdir()) == [str(base_run)]


def test_an_empty_answer_length_becomes_a_gpus_default_in_a_job():
    """Jobs run on GPUs: an answer length left to the device is CUDA's default, not the text 'None'."""
    @dataclass
    class Lengthy:
        max_new_tokens: int | None = None

    args = openrlhf_args(JobSpec("ppo", "model", Lengthy(), reward_model="rm"), n_prompts=10)
    assert dict(zip(args, args[1:]))["--rollout.max_new_tokens"] == "256"
    assert trl_config(JobSpec("rloo", "m", Lengthy()))["max_completion_length"] == 256
    assert trl_config(JobSpec("rloo", "m", Lengthy(max_new_tokens=64)))["max_completion_length"] == 64


@pytest.mark.parametrize("kind", ["reward", "dpo"])
def test_a_plackett_luce_job_learns_from_the_pairs_and_says_so(store, tmp_path, kind):
    from studio.training.configs import config_class

    ranked(store)
    config = config_class(kind)(ranking_loss="plackett_luce")
    assert write_job(store, JobSpec(kind, "m", config), tmp_path / "pl") == 3  # a > b > c: its three pairs
    readme = (tmp_path / "pl" / "README.md").read_text()
    assert "TRL has no Plackett-Luce loss" in readme and "ranking_loss" not in (tmp_path / "pl" /
                                                                               "trl_config.yaml").read_text()
    write_job(store, JobSpec(kind, "m", config_class(kind)(ranking_loss="pairs")), tmp_path / "pairs")
    assert "Plackett-Luce" not in (tmp_path / "pairs" / "README.md").read_text()


@pytest.mark.parametrize("kind", ["reward", "dpo"])
def test_an_auto_job_says_trl_lacks_plackett_luce_only_where_the_studio_would_use_it(store, tmp_path, kind):
    from studio.training.configs import config_class

    prompt_id = store.add_prompt("P")  # a pair only: the studio learns from the pairs, as TRL does
    store.add_ranking(store.add_comparison(prompt_id, [store.add_response(prompt_id, t, "base") for t in "xy"]),
                      [[1], [0]])
    assert config_class(kind)().ranking_loss == "auto"
    write_job(store, JobSpec(kind, "m", config_class(kind)()), tmp_path / "k2")
    assert "Plackett-Luce" not in (tmp_path / "k2" / "README.md").read_text()
    ranked(store)  # a > b > c: whole rankings from now on
    write_job(store, JobSpec(kind, "m", config_class(kind)()), tmp_path / "k3")
    readme = (tmp_path / "k3" / "README.md").read_text()
    assert "TRL has no Plackett-Luce loss" in readme and "(ranking_loss=auto)" in readme
