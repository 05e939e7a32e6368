"""A reward run as a standard sequence-classification model, for engines that take a reward model by path
(TRL's RLOO `reward_funcs`, OpenRLHF's `--reward.model_name_or_path`).

The reward adapter is merged into the base and the scalar head becomes the `score` layer those engines read
(OpenRLHF's default `value_head_prefix`). `score` has no bias, so the head's bias moves into the stored mean:
(w·h + b - mean) / std == (w·h - (mean - b)) / std, and OpenRLHF's `normalize_reward` uses config.mean/std.
"""
from __future__ import annotations

from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification

from studio.core.project import Project
from studio.core.run_kinds import REWARD
from studio.training.models import load_model
from studio.training.reward import HEAD
from studio.training.heads import ScalarHead, load_heads


def export_reward_model(project: Project, run_ref: str, out_dir: Path) -> Path:
    """Write reward run `run_ref` as a safetensors AutoModelForSequenceClassification folder (num_labels=1)."""
    run = project.store.resolve_run(run_ref)
    if run.kind != REWARD or run.status != "finished" or not run.artifact:
        raise ValueError(f"run {run.id} is not a finished reward model (kind {run.kind}, status {run.status})")
    loaded = load_model(project.model_spec, device="cpu")
    trunk = PeftModel.from_pretrained(loaded.model, project.artifact_path(run)).merge_and_unload()
    head = ScalarHead(trunk.config.hidden_size)
    meta = load_heads({HEAD: head}, project.run_dir(run.id) / "heads.safetensors")
    config = trunk.config
    config.num_labels = 1
    config.pad_token_id = loaded.tokenizer.pad_token_id
    config.mean = meta.get("mean", 0.0) - head.linear.bias.item()
    config.std = meta.get("std", 1.0)
    model = AutoModelForSequenceClassification.from_config(config)
    missing = model.load_state_dict({k: v for k, v in trunk.state_dict().items() if not k.startswith("lm_head")},
                                    strict=False).missing_keys
    if missing != ["score.weight"]:
        raise RuntimeError(f"the reward trunk did not fit a sequence-classification model: missing {missing}")
    with torch.no_grad():
        model.score.weight.copy_(head.linear.weight)
    model.save_pretrained(out_dir, safe_serialization=True)
    loaded.tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
