"""Exported SFT and DPO jobs run for real with TRL 1.16 on 2 CPU processes (torchrun, gloo), and their adapters
come back as runs that give exactly the model TRL trained.

TRL lives in its own venv (bench/setup_trl116_venv.sh, made here on first use); the studio never imports it.
"""
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from studio.cli import main
from studio.core.jsonl import write_jsonl
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.training.runs import open_base, policy_adapter

pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 600  # a hung rank (resources/jobs/run_trl.py is there to prevent it) fails the test, never CI
REPO = Path(__file__).resolve().parents[1]
TOPICS = ["cats", "rain", "tea", "maps", "jazz", "soup", "kites", "moss"]


@pytest.fixture(scope="module")
def trl_bin() -> Path:
    subprocess.run(["bash", str(REPO / "bench" / "setup_trl116_venv.sh")], check=True, timeout=1800)
    return REPO / "bench" / ".venv-trl116" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_job(job: Path, trl_bin: Path, *extra: str) -> str:
    """launch.sh with torchrun on 2 CPU processes; returns the combined output. The job runs in its own session
    with its output in a file, so that a hung rank can be killed with all its processes and no pipe stays open."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PATH=f"{trl_bin}:{env['PATH']}", LAUNCHER="torchrun", CPU="1", GPUS="2", MASTER_PORT=str(free_port()),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    with open(job / "test-output.log", "w+") as log:
        proc = subprocess.Popen(["bash", str(job / "launch.sh"), "--log_level", "info",
                                 "--per_device_train_batch_size", "2", *extra],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        log.seek(0)
        out = log.read()
    assert code == 0, f"exit {code} (-9: hung, killed after {JOB_TIMEOUT_S} s)\n{out[-4000:]}"
    return out


def logits(model, ids) -> torch.Tensor:
    model.eval()  # TRL's adapters carry LoRA dropout
    with torch.no_grad():
        return model(input_ids=ids).logits


def seeded_project(root: Path, model_dir: Path) -> Project:
    project = Project.init(root, model=str(model_dir))
    store = project.store
    for i, topic in enumerate(TOPICS):
        store.add_demo(f"tell me about {topic}", f"{topic} are nice.")
        pid = store.add_prompt(f"say something about {topic}")
        ids = [store.add_response(pid, f"banana {topic} {i}", "imported"),
               store.add_response(pid, f"lemon {topic}", "imported")]
        store.add_ranking(store.add_comparison(pid, ids), [[0], [1]])
    return project


def test_sft_then_dpo_jobs_run_on_two_processes_and_import_as_runs(tiny_model_dir, tmp_path, trl_bin):
    project = seeded_project(tmp_path / "proj", tiny_model_dir)
    root = str(project.root)
    ids = torch.tensor([[1, 30, 40, 50, 60, 2]])
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()

    assert main(["job", "export", root, "--kind", "sft", "--out", str(tmp_path / "sft")]) == 0
    out = run_job(tmp_path / "sft", trl_bin, "--max_steps", "4", "--learning_rate", "0.02")
    assert "Total train batch size (w. parallel, distributed & accumulation) = 4" in out  # 2 ranks x 2
    assert main(["runs", "import", root, str(tmp_path / "sft" / "output")]) == 0
    sft = project.store.resolve_run("latest:sft")
    assert project.artifact_path(sft).parent == (project.root / "runs" / str(sft.id)).resolve()

    base = open_base(project, device="cpu")
    trl_model = PeftModel.from_pretrained(plain, tmp_path / "sft" / "output").eval()
    with base.use(policy_adapter(project, base, str(sft.id))) as model:
        ours = logits(model, ids)
    with base.use(None) as model:
        bare = logits(model, ids)
    torch.testing.assert_close(ours, logits(trl_model, ids), atol=1e-5, rtol=1e-4)  # the model TRL trained
    assert (ours - bare).abs().max() > 1e-2  # and training did change it

    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "tell me about cats"}])
    assert main(["sample", root, "--policy", "latest:sft", "--prompts", str(tmp_path / "prompts.jsonl"),
                 "--out", str(tmp_path / "answers.jsonl"), "--max-new-tokens", "6", "--device", "cpu"]) == 0

    # DPO starts from the SFT run (merged into the job's model/); the import folds the SFT adapter back in
    assert main(["job", "export", root, "--kind", "dpo", "--out", str(tmp_path / "dpo")]) == 0
    run_job(tmp_path / "dpo", trl_bin, "--max_steps", "3", "--learning_rate", "0.02")
    assert main(["runs", "import", root, str(tmp_path / "dpo" / "output")]) == 0
    dpo = project.store.resolve_run("latest:dpo")
    assert dpo.parent == sft.id
    merged_sft = AutoModelForCausalLM.from_pretrained(tmp_path / "dpo" / "model").eval()
    trl_dpo = PeftModel.from_pretrained(merged_sft, tmp_path / "dpo" / "output").eval()
    with base.use(policy_adapter(project, base, str(dpo.id))) as model:
        folded = logits(model, ids)
    torch.testing.assert_close(folded, logits(trl_dpo, ids), atol=1e-4, rtol=1e-4)
    assert (folded - ours).abs().max() > 1e-3  # DPO moved the policy beyond SFT


def openrlhf_flags(trl_bin: Path) -> dict[str, bool]:
    """{flag: takes no value} from OpenRLHF 0.11.2's own train_ppo_ray argument parser (read, not run)."""
    import ast

    source = next((trl_bin.parent / "lib").glob("python3*/site-packages/openrlhf/cli/train_ppo_ray.py"))
    flags = {}
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument" and node.args:
            action = next((k.value.value for k in node.keywords if k.arg == "action"), None)
            name = node.args[0]
            names = [name.value] if isinstance(name, ast.Constant) else [  # f"--{prefix}.x" for actor and critic
                "".join(p.value if isinstance(p, ast.Constant) else prefix for p in name.values)
                for prefix in ("actor", "critic")]
            flags.update({n: action == "store_true" for n in names})
    return flags


def test_reward_ppo_and_rloo_jobs_fit_their_engines(tiny_model_dir, tmp_path, trl_bin):
    import shlex

    from transformers import AutoModelForSequenceClassification

    from studio.training.reward import RewardConfig, RewardScorer
    from studio.training.runs import train

    project = seeded_project(tmp_path / "proj", tiny_model_dir)
    base = open_base(project, device="cpu")
    run_id, _ = train(project, base, "reward", RewardConfig(steps=3, batch_size=2, max_length=64, lora_r=4))
    ratings = Ratings(project.store)  # what a KTO job learns from, as the studio's KTO does
    for response in project.store.responses():
        ratings.add(response.id, response.text.startswith("banana"))
    root = str(project.root)
    for kind in ("sft", "reward", "dpo", "kto", "rloo", "grpo", "ppo"):
        assert main(["job", "export", root, "--kind", kind, "--out", str(tmp_path / kind), "--init", "base"]) == 0

    # PPO: every flag is one OpenRLHF's parser defines, with a value exactly where it takes one
    flags = openrlhf_flags(trl_bin)
    script = (tmp_path / "ppo" / "launch.sh").read_text()
    words = shlex.split(script.split("train_ppo_ray", 1)[1].replace("\\\n", " ").split('"$@"')[0])
    i = 0
    while i < len(words):
        assert words[i] in flags, f"OpenRLHF 0.11.2 has no flag {words[i]}"
        i += 1 if flags[words[i]] else 2
    # the exported reward model scores like the studio's reward run (normalised by its stored mean and std)
    rm = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ppo" / "reward_model").eval()
    scorer = RewardScorer.load(base, project.run_dir(run_id))
    texts = [("say something about tea", "banana tea"), ("say something about jazz", "lemon jazz")]
    ours = scorer.normalised([p for p, _ in texts], [r for _, r in texts])
    from studio.training.batches import encode_example

    for (prompt, response), expected in zip(texts, ours):
        ids = torch.tensor([encode_example(base.tokenizer, prompt, response, None, 64)[0]])
        with torch.no_grad():
            raw = rm(input_ids=ids).logits[0, 0]
        assert abs((raw - rm.config.mean) / rm.config.std - expected) < 1e-4

    # every TRL config parses with the TRL script it is for (unknown keys would fail)
    checks = "; ".join(f"import trl.scripts.{k} as m; m.make_parser().parse_args_and_config(['--config', "
                       f"'{tmp_path / k / 'trl_config.yaml'}', '--use_cpu', 'true', '--bf16', 'false'])"
                       for k in ("sft", "reward", "dpo", "kto", "rloo", "grpo"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(trl_bin / "python"), "-c", checks], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
