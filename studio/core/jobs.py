"""A project's data and settings as a job for an existing distributed engine: TRL (SFT, reward, DPO, KTO, RLOO)
or OpenRLHF (PPO).

A job folder holds `data/train.jsonl` in TRL's conversational formats, `trl_config.yaml` (the `trl` scripts'
own YAML: model, LoRA and training settings), `accelerate.yaml`, `launch.sh`, a README and `job.json`
(what the studio needs to import the result back). Settings are read from the project's config dataclasses
by field name, so an engine's config that lacks a field simply leaves TRL's default in place.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shlex
import typing
from pathlib import Path

from studio.core.answer_length import default_answer_tokens
from studio.core.atomic import atomic_writer
from studio.core.job_rewards import (FILE_NAME, REFERENCE_COLUMN, needs_references, readme_note, rewards_source,
                                     rule_terms, trl_reward_settings)
from studio.core.jsonl import write_jsonl
from studio.core.preferences import ranking_loss_for
from studio.core.ratings import Ratings, training_pairs, training_rankings
from studio.core.reward_terms import Term, check_references, parse_terms
from studio.core.run_kinds import DEMONSTRATIONS, KINDS, PAIRS, PROMPTS, RATINGS, RunKind, run_kind
from studio.core.store import Store

# our field name -> TRL's (TrainingArguments / TRL config / ModelConfig) field name, unless the config's field
# names its own in its metadata (`configs.help_field(..., trl=NAME)`)
TRL_FIELDS = {"steps": "max_steps", "batch_size": "per_device_train_batch_size", "lr": "learning_rate",
              "warmup_steps": "warmup_steps", "weight_decay": "weight_decay", "max_grad_norm": "max_grad_norm",
              "seed": "seed", "gradient_checkpointing": "gradient_checkpointing", "max_length": "max_length",
              "beta": "beta", "lora_r": "lora_r", "lora_alpha": "lora_alpha", "iterations": "max_steps",
              "max_new_tokens": "max_completion_length", "temperature": "temperature",
              "desirable_weight": "desirable_weight", "undesirable_weight": "undesirable_weight",
              "rloo_k": "num_generations", "k": "num_generations", "num_generations": "num_generations",
              "samples_per_prompt": "num_generations"}
ZERO_STAGES = (2, 3)
SHELL_VARIABLES = ("${GPUS}", "${NODES}")  # launch.sh's own variables: the only words it does not quote
# copied into every TRL job: runs the TRL script so that a rank cannot hang in gloo's teardown (see the file)
TRL_RUNNER = Path(__file__).resolve().parents[2] / "resources" / "jobs" / "run_trl.py"


@dataclasses.dataclass
class JobSpec:
    """What `write_job` needs besides the store: the kind, the model path, and the engine's settings."""

    kind: str
    model: str
    config: object | None = None
    reward_model: str | None = None  # a sequence-classification folder (rloo, ppo), relative to the job folder
    init_run: int | None = None  # the run merged into `model/`: its adapter is folded into the result on import
    terms: list[Term] = dataclasses.field(default_factory=lambda: parse_terms(None))  # an online run's reward
    reward_std: float = 1.0  # the reward model's training std: TRL weights its raw score, the studio's terms its
    # normalised one (`job_rewards.trl_reward_settings`)
    notes: list[str] = dataclasses.field(default_factory=list)


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _demonstrations(store: Store) -> list[dict]:
    return [{"messages": ([{"role": "system", "content": d.system}] if d.system else [])
             + _user(d.prompt) + _assistant(d.response)} for d in store.demos()]


def _pairs(store: Store) -> list[dict]:
    """Preference format with an explicit prompt."""
    return [{"prompt": _user(p.prompt), "chosen": _assistant(p.chosen), "rejected": _assistant(p.rejected)}
            for p in training_pairs(store)]


def _ratings(store: Store) -> list[dict]:
    """Unpaired preference: every answer rated good is desirable, every one rated bad not."""
    return [{"prompt": _user(e["prompt"]), "completion": _assistant(e["completion"]), "label": e["label"]}
            for e in Ratings(store).examples()]


def _prompts(store: Store, terms: list[Term] | None = None) -> list[dict]:
    """The prompts, with their reference answers (the `answer` column) when a reward term compares with them."""
    if terms and needs_references(terms):
        check_references(terms, {p.text: p.answer for p in store.prompts()})
        return [{"prompt": _user(p.text), REFERENCE_COLUMN: p.answer} for p in store.prompts()]
    return [{"prompt": _user(p.text)} for p in store.prompts()]


# TRL's conversational dataset format of each kind of data a run learns from
RECORDS = {DEMONSTRATIONS: _demonstrations, PAIRS: _pairs, RATINGS: _ratings, PROMPTS: _prompts}


def job_records(store: Store, kind: str, terms: list[Term] | None = None) -> list[dict]:
    """The project's data for `kind` in TRL's conversational dataset formats (an online kind's with the reference
    answers its reward `terms` need)."""
    source = _job_kind(kind).learns_from
    return _prompts(store, terms) if source == PROMPTS else RECORDS[source](store)


def _job_kind(kind: str) -> RunKind:
    """The registry's `kind`, refused with one line when it is unknown."""
    if kind not in KINDS:
        raise ValueError(f"job kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS[kind]


def on_openrlhf(kind: str) -> bool:
    """True when `kind`'s job runs on OpenRLHF (its launch.sh carries the settings), else on TRL."""
    return run_kind(kind).job_script.startswith("openrlhf.")


def _setting(config, name: str):
    """A config's setting for a job; an empty answer length is a GPU's default, where jobs run, and automatic
    gradient checkpointing is on there (GPU memory is what limits a job)."""
    value = getattr(config, name)
    if value is None and name == "gradient_checkpointing":
        return True
    return default_answer_tokens("cuda") if name == "max_new_tokens" and value is None else value


def check_settings(config) -> None:
    """Refuse, naming the field, a setting whose value does not have its dataclass field's type (int, float, bool,
    str, or one of them | None) or is not a finite number: settings come from the database and end up in files
    that other programs parse and run."""
    hints = typing.get_type_hints(type(config))
    for name in (f.name for f in dataclasses.fields(config)):
        value = getattr(config, name)
        allowed = typing.get_args(hints[name]) or (hints[name],)
        if value is None and type(None) in allowed:
            continue
        fits = any(_fits(value, t) for t in allowed if t is not type(None))
        if not fits or (isinstance(value, float) and not math.isfinite(value)):
            wanted = " or ".join("none" if t is type(None) else getattr(t, "__name__", str(t)) for t in allowed)
            raise ValueError(f"setting {name} must be {wanted}, got {value!r}")


def _fits(value: object, kind: type) -> bool:
    """`value` as a `kind`: a bool is no number, and a whole number is a float too."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(kind, type) and isinstance(value, kind)


def trl_config(spec: JobSpec) -> dict:
    """The `trl` scripts' YAML settings: model, data, LoRA and the project's training settings."""
    settings = {"model_name_or_path": spec.model, "dataset_name": "data", "output_dir": "output",
                "use_peft": True, "lora_target_modules": "all-linear", "lora_r": 16, "lora_alpha": 32,
                "logging_steps": 1, "save_strategy": "no", "report_to": "none"}
    if spec.config is not None:
        for f in dataclasses.fields(spec.config):
            name = f.metadata.get("trl") or TRL_FIELDS.get(f.name)  # a field may name its TRL setting itself
            if name:
                settings[name] = _setting(spec.config, f.name)
        if hasattr(spec.config, "trl_settings"):  # settings that TRL counts in other units than the config
            settings.update(spec.config.trl_settings())
    if run_kind(spec.kind).online:
        settings.update(trl_reward_settings(spec.terms, spec.reward_model, spec.reward_std))
    return settings


def accelerate_config(zero_stage: int | None = None) -> dict:
    """One node, one process; launch.sh overrides the process and machine counts. ZeRO via DeepSpeed optional."""
    config = {"compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_GPU", "num_machines": 1,
              "num_processes": 1, "machine_rank": 0, "mixed_precision": "bf16", "main_training_function": "main",
              "rdzv_backend": "static", "same_network": True, "use_cpu": False}
    if zero_stage is not None:
        config["distributed_type"] = "DEEPSPEED"
        config["deepspeed_config"] = {"zero_stage": zero_stage, "offload_optimizer_device": "none",
                                      "offload_param_device": "none", "zero3_init_flag": zero_stage == 3,
                                      "gradient_accumulation_steps": 1}
    return config


def yaml_text(data: dict) -> str:
    """Flat and one-level-nested dicts as YAML (JSON scalars are valid YAML; no PyYAML in the studio's deps)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {json.dumps(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def trl_launch_script(kind: str) -> str:
    module = run_kind(kind).job_script
    return f"""#!/usr/bin/env bash
# Runs this {kind.upper()} job with TRL. GPUS per node (default 1), NODES (default 1), NODE_RANK, MASTER_ADDR,
# MASTER_PORT; LAUNCHER=torchrun skips accelerate; CPU=1 trains on CPUs (fp32, gloo; use with torchrun);
# ZERO=2|3 uses DeepSpeed ZeRO. Extra arguments go to the TRL script (e.g. --max_steps 10). The adapter
# lands in output/.
set -euo pipefail
cd "$(dirname "$0")"
GPUS=${{GPUS:-1}}; NODES=${{NODES:-1}}; NODE_RANK=${{NODE_RANK:-0}}
MASTER_ADDR=${{MASTER_ADDR:-127.0.0.1}}; MASTER_PORT=${{MASTER_PORT:-29500}}
ARGS=({TRL_RUNNER.name} {module} --config trl_config.yaml)
[[ -n "${{CPU:-}}" ]] && ARGS+=(--bf16 false --use_cpu true)
ARGS+=("$@")
if [[ "${{LAUNCHER:-accelerate}}" == torchrun ]]; then
  exec torchrun --nproc_per_node "$GPUS" --nnodes "$NODES" --node_rank "$NODE_RANK" \\
    --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" "${{ARGS[@]}}"
fi
CONFIG=accelerate.yaml; [[ -n "${{ZERO:-}}" ]] && CONFIG="accelerate_zero${{ZERO}}.yaml"
exec accelerate launch --config_file "$CONFIG" --num_processes $((GPUS * NODES)) --num_machines "$NODES" \\
  --machine_rank "$NODE_RANK" --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT" "${{ARGS[@]}}"
"""


def openrlhf_args(spec: JobSpec, n_prompts: int = 1) -> list[str]:
    """`openrlhf.cli.train_ppo_ray` flags (OpenRLHF 0.11.2's parser) carrying the project's PPO settings."""
    args = {"--actor.model_name_or_path": spec.model, "--reward.model_name_or_path": spec.reward_model,
            "--critic.model_name_or_path": spec.model, "--data.prompt_dataset": "data/train.jsonl",
            "--data.input_key": "prompt", "--ckpt.output_dir": "output", "--ckpt.save_hf": None,
            "--data.apply_chat_template": None, "--reward.normalize_enable": None,
            "--actor.gradient_checkpointing_enable": None, "--ds.zero_stage": "2",
            "--actor.num_gpus_per_node": "${GPUS}", "--ref.num_gpus_per_node": "${GPUS}",
            "--critic.num_gpus_per_node": "${GPUS}", "--reward.num_gpus_per_node": "${GPUS}",
            "--actor.num_nodes": "${NODES}", "--ref.num_nodes": "${NODES}", "--critic.num_nodes": "${NODES}",
            "--reward.num_nodes": "${NODES}", "--train.colocate_all": None}
    ppo_fields = {"batch_size": "--rollout.batch_size", "max_new_tokens": "--rollout.max_new_tokens",
                  "temperature": "--rollout.temperature", "ppo_epochs": "--train.max_epochs",
                  "cliprange": "--actor.eps_clip", "cliprange_value": "--critic.value_clip",
                  "gamma": "--algo.advantage.gamma", "lam": "--algo.advantage.lambd",
                  "init_kl_coef": "--algo.kl.init_coef", "target_kl": "--algo.kl.target",
                  "kl_horizon": "--algo.kl.horizon", "seed": "--train.seed", "lora_r": "--ds.lora.rank",
                  "lora_alpha": "--ds.lora.alpha", "lr": ("--actor.adam.lr", "--critic.adam.lr"),
                  "max_grad_norm": ("--actor.max_norm", "--critic.max_norm")}
    config = spec.config
    if config is not None:
        for f in dataclasses.fields(config):
            flags = ppo_fields.get(f.name, ())
            for flag in (flags,) if isinstance(flags, str) else flags:
                args[flag] = str(_setting(config, f.name))
        if getattr(config, "adaptive_kl", True) is False:
            args.pop("--algo.kl.target", None)
        batch, minibatches = getattr(config, "batch_size", None), getattr(config, "minibatches", 1)
        if batch:  # one optimizer update per minibatch of a round's responses
            args["--train.batch_size"] = str(max(1, batch // minibatches))
        if batch and getattr(config, "iterations", None):  # our rounds as passes over the prompts
            args["--train.num_episodes"] = str(max(1, -(-config.iterations * batch // max(1, n_prompts))))
    flat = []
    for flag, value in args.items():
        flat += [flag] if value is None else [flag, value]
    return flat


def ppo_launch_script(spec: JobSpec, n_prompts: int) -> str:
    flags = " \\\n    ".join(f'"{a}"' if a in SHELL_VARIABLES else shlex.quote(a)
                              for a in openrlhf_args(spec, n_prompts))
    return f"""#!/usr/bin/env bash
# Runs this PPO job with OpenRLHF 0.11.2 on a Ray cluster (start one with `ray start --head`).
# GPUS per node (default 1), NODES (default 1), RAY_ADDRESS (default http://127.0.0.1:8265).
set -euo pipefail
cd "$(dirname "$0")"
GPUS=${{GPUS:-1}}; NODES=${{NODES:-1}}
exec ray job submit --address="${{RAY_ADDRESS:-http://127.0.0.1:8265}}" --runtime-env-json='{{"working_dir": "."}}' \\
  -- python3 -m openrlhf.cli.train_ppo_ray \\
    {flags} "$@"
"""


def readme_text(spec: JobSpec, count: int, ranking_loss: str = "pairs") -> str:
    """The job's README; `ranking_loss`: the loss the studio would learn from the job's rankings with
    (`preferences.ranking_loss_for`), which a job with "plackett_luce" says TRL lacks."""
    engine = "OpenRLHF 0.11.2" if on_openrlhf(spec.kind) else "TRL 1.16"
    notes = list(spec.notes) + ([readme_note(spec.terms)] if run_kind(spec.kind).online else [])
    if run_kind(spec.kind).learns_from == PAIRS:
        notes.append("TRL has no per-pair weights: every pair counts once here, while the studio gives the pairs "
                     "of one K-way ranking a weight of 1/num_pairs each.")
        if ranking_loss == "plackett_luce":
            notes.append(f"TRL has no Plackett-Luce loss: this job learns from each ranking's pairs, as the "
                         f"studio's ranking_loss=pairs does, not from whole rankings as the studio would here "
                         f"(ranking_loss={spec.config.ranking_loss}).")
    notes = "".join(f"- {n}\n" for n in notes)
    if on_openrlhf(spec.kind):
        how = """```bash
pip install openrlhf==0.11.2            # on every node, with its GPU dependencies (vLLM, DeepSpeed)
ray start --head                         # first node; the others: ray start --address HEAD_IP:6379
GPUS=8 NODES=2 bash launch.sh            # submits the job; the policy lands in output/
```
The reward model in `reward_model/` is the project's reward run merged into the base as a
sequence-classification model (`score` head; its mean and std are in config.json for normalisation)."""
    else:
        how = """```bash
pip install trl==1.16.0 peft accelerate datasets   # plus deepspeed for ZeRO
bash launch.sh                                      # 1 GPU
GPUS=4 bash launch.sh                               # 4 GPUs on this machine
GPUS=4 ZERO=3 bash launch.sh                        # 4 GPUs, DeepSpeed ZeRO-3 (accelerate_zero3.yaml; ZERO=2 too)
GPUS=8 NODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash launch.sh   # on each node, with its own NODE_RANK
CPU=1 LAUNCHER=torchrun GPUS=2 bash launch.sh       # 2 processes on CPUs (torchrun, gloo backend)
```
`per_device_train_batch_size` is per process: with N processes one step sees N times the batch.
`launch.sh` starts TRL's script through `run_trl.py`, which only makes sure that no rank hangs in gloo's
process-group teardown at the end (see its docstring); `python -m trl.scripts.KIND` works too."""
    settings = "launch.sh" if on_openrlhf(spec.kind) else "trl_config.yaml"
    where = "   # the folder where OpenRLHF wrote adapter_config.json" if on_openrlhf(spec.kind) else ""
    return f"""# {spec.kind.upper()} job exported by Alignment Studio

{count} training examples in `data/train.jsonl`; settings in `{settings}`
(model `{spec.model}`, LoRA, the project's training settings). Engine: {engine}.

{how}

Bring the result back into the project (a run that Compare and `sample` can use):
```bash
python -m studio runs import PROJECT_DIR output{where}
```
{notes}"""


def check_job(store: Store, kind: str, out: Path, terms: list[Term] | None = None) -> list[dict]:
    """The job's training records, after refusing an unknown kind, a non-empty `out`, a project without data or
    (for reward `terms` that compare with reference answers) a prompt without one."""
    source = _job_kind(kind).learns_from
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} already exists and is not empty: choose a new folder")
    records = job_records(store, kind, terms)
    if not records:
        raise ValueError(f"this project has no {source.name} for a {kind} job")
    return records


def _ranking_loss(store: Store, config) -> str:
    """The loss the studio would learn from the project's rankings with, by `config`'s `ranking_loss` (pairs for a
    config without one)."""
    choice = getattr(config, "ranking_loss", "pairs")
    return ranking_loss_for(choice, training_rankings(store)) if choice == "auto" else choice


def write_job(store: Store, spec: JobSpec, out: Path) -> int:
    """Write the job folder; returns the number of training examples. Refuses an existing non-empty folder."""
    out = Path(out)
    records = check_job(store, spec.kind, out, spec.terms)
    if spec.config is not None:
        check_settings(spec.config)
    (out / "data").mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "data" / "train.jsonl", records)
    files = {"README.md": readme_text(spec, len(records), _ranking_loss(store, spec.config)),
             "job.json": json.dumps({"kind": spec.kind, "engine": "openrlhf" if on_openrlhf(spec.kind) else "trl",
                                     "model": spec.model, "init_run": spec.init_run, "examples": len(records),
                                     "config": dataclasses.asdict(spec.config) if spec.config else {}}, indent=1)}
    if on_openrlhf(spec.kind):
        files["launch.sh"] = ppo_launch_script(spec, len(records))
    else:
        files["launch.sh"] = trl_launch_script(spec.kind)
        files[TRL_RUNNER.name] = TRL_RUNNER.read_text(encoding="utf-8")
        files["trl_config.yaml"] = yaml_text(trl_config(spec))
        if run_kind(spec.kind).online and rule_terms(spec.terms):
            files[FILE_NAME] = rewards_source(spec.terms)
        files["accelerate.yaml"] = yaml_text(accelerate_config())
        files.update({f"accelerate_zero{z}.yaml": yaml_text(accelerate_config(z)) for z in ZERO_STAGES})
    for name, text in files.items():
        with atomic_writer(out / name) as f:
            f.write(text)
    (out / "launch.sh").chmod(0o755)
    return len(records)
