"""Examples/s of our SFT and reward-model training vs TRL 1.12's SFTTrainer and RewardTrainer.

    bash bench/setup_trl_venv.sh                              # once
    .venv/bin/python bench/training_throughput.py             # SmolLM2-135M, CPU, 64 demos / 64 pairs, 24 steps
    .venv/bin/python bench/training_throughput.py --model tiny --steps 6

Same data (synthetic, built here), batch size (4 demos, or 4 pairs = 8 sequences), max length 256,
LoRA r 8 / alpha 16 on every linear layer (our engines' targets; TRL's "all-linear"), lr 2e-4, no eval,
no checkpoints. Gradient checkpointing on both sides (TRL's default; ours set on, like for like: our own default
decides by memory and is off for this model on a 24 GB machine); `--trl-no-checkpointing` turns off both.
Precision: each side's default for ours (bf16 autocast of the trunk on a CPU with native bf16,
`precision.wants_bf16`), float32 for TRL (`bf16=False`); `--trl-bf16` gives TRL its own default, bf16 mixed precision.
Examples/s is timed from the end of the first step to the end of the last (the first step warms up).
Each of the four runs is its own process; TRL's run in bench/.venv-trl.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (PROMPTS, TRL_PYTHON, child_main, common_args, print_table, run_variants)  # noqa: E402

FILLER = ("Here is a careful answer with a few plain sentences, each one adding a small detail. "
          "It stays on topic and ends with a short summary of the main point. ")


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--examples", type=int, default=64, help="demos and pairs (default 64 each)")
    p.add_argument("--batch", type=int, default=4, help="demos (or pairs) per step (default 4)")
    p.add_argument("--steps", type=int, default=24, help="optimizer steps per run (default 24)")
    p.add_argument("--max-length", type=int, default=256, help="max tokens per sequence (default 256)")
    p.add_argument("--trl-no-checkpointing", action="store_true",
                   help="turn off gradient checkpointing (TRL's default) on both sides")
    p.add_argument("--trl-bf16", action="store_true",
                   help="TRL in its default bf16 mixed precision (autocast) instead of float32")
    return p


def demos(n: int) -> list[dict]:
    return [{"prompt": PROMPTS[i % len(PROMPTS)] + f" (#{i})",
             "response": f"Answer {i}. " + FILLER * (1 + i % 3)} for i in range(n)]


def pairs(n: int) -> list[dict]:
    return [{"prompt": PROMPTS[i % len(PROMPTS)] + f" (#{i})", "chosen": f"Good answer {i}. " + FILLER * (1 + i % 2),
             "rejected": f"Bad answer {i}. " + FILLER[:80] * (1 + i % 3)} for i in range(n)]


def _rate(marks: list[float], batch: int) -> dict:
    """Examples/s between the end of the first step and the end of the last."""
    span = marks[-1] - marks[0]
    return {"examples_per_s": batch * (len(marks) - 1) / span, "steps": len(marks), "span_s": span}


def _ours(args, kind: str) -> dict:
    from studio.training.engine import Hooks
    from studio.training.models import load_model
    from studio.training.reward import RewardConfig, train_reward
    from studio.training.sft import SFTConfig, train_sft
    from studio.training.shared_base import SharedBase

    base = SharedBase.from_loaded(load_model(args.model_dir, device=args.device))
    common = dict(steps=args.steps, batch_size=args.batch, lr=2e-4, lora_r=8, lora_alpha=16,
                  max_length=args.max_length, eval_fraction=0.0, checkpoint_every=10**6, warmup_steps=0,
                  gradient_checkpointing=not args.trl_no_checkpointing)
    marks: list[float] = []
    hooks = Hooks(on_metrics=lambda step, values: marks.append(time.perf_counter()))
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    if kind == "sft":
        train_sft(base, demos(args.examples), SFTConfig(**common), run_dir, hooks)
    else:
        train_reward(base, pairs(args.examples), RewardConfig(**common), run_dir, hooks)
    return _rate(marks, args.batch)


def _trl(args, kind: str) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

    tok = AutoTokenizer.from_pretrained(args.model_dir, local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())

    common = dict(output_dir=tempfile.mkdtemp(prefix=f"bench-trl-{kind}-"), per_device_train_batch_size=args.batch,
                  gradient_accumulation_steps=1, max_steps=args.steps, learning_rate=2e-4, lr_scheduler_type="cosine",
                  warmup_steps=0, max_length=args.max_length, bf16=args.trl_bf16, fp16=False,
                  use_cpu=args.device == "cpu", gradient_checkpointing=not args.trl_no_checkpointing,
                  report_to="none", save_strategy="no", eval_strategy="no", logging_strategy="no",
                  disable_tqdm=True, seed=0, dataloader_num_workers=0)
    lora = dict(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear")
    if kind == "sft":
        from trl import SFTConfig, SFTTrainer

        data = Dataset.from_list([{"prompt": [{"role": "user", "content": d["prompt"]}],
                                   "completion": [{"role": "assistant", "content": d["response"]}]}
                                  for d in demos(args.examples)])
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, local_files_only=True)
        trainer = SFTTrainer(model=model, args=SFTConfig(**common), train_dataset=data, processing_class=tok,
                             peft_config=LoraConfig(task_type="CAUSAL_LM", **lora), callbacks=[Clock()])
    else:
        from trl import RewardConfig, RewardTrainer

        data = Dataset.from_list([{"prompt": [{"role": "user", "content": p["prompt"]}],
                                   "chosen": [{"role": "assistant", "content": p["chosen"]}],
                                   "rejected": [{"role": "assistant", "content": p["rejected"]}]}
                                  for p in pairs(args.examples)])
        model = AutoModelForSequenceClassification.from_pretrained(args.model_dir, num_labels=1, dtype=torch.float32,
                                                                   local_files_only=True)
        model.config.pad_token_id = tok.pad_token_id
        trainer = RewardTrainer(model=model, args=RewardConfig(**common), train_dataset=data, processing_class=tok,
                                peft_config=LoraConfig(task_type="SEQ_CLS", **lora), callbacks=[Clock()])
    trainer.train()
    return _rate(marks, args.batch)


VARIANTS = {"ours_sft": lambda a: _ours(a, "sft"), "ours_reward": lambda a: _ours(a, "reward"),
            "trl_sft": lambda a: _trl(a, "sft"), "trl_reward": lambda a: _trl(a, "reward")}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    if not TRL_PYTHON.exists():
        sys.exit(f"{TRL_PYTHON} is missing: run `bash bench/setup_trl_venv.sh` first")
    res = run_variants(Path(__file__), args, list(VARIANTS),
                       f"Training throughput: {args.model} on {args.device}, batch {args.batch}, {args.steps} steps, "
                       f"max length {args.max_length}, LoRA r 8 all linear, TRL in {'bf16' if args.trl_bf16 else 'float32'}",
                       pythons={name: TRL_PYTHON for name in VARIANTS if name.startswith("trl")})
    print_table("SFT and reward-model training throughput", [
        ("SFT examples/s", res["ours_sft"]["examples_per_s"], res["trl_sft"]["examples_per_s"],
         "demos per second; higher is better"),
        ("reward pairs/s", res["ours_reward"]["examples_per_s"], res["trl_reward"]["examples_per_s"],
         "preference pairs per second; higher is better"),
        ("SFT peak_rss_mb (MiB)", res["ours_sft"]["peak_rss_mb"], res["trl_sft"]["peak_rss_mb"], ""),
        ("reward peak_rss_mb (MiB)", res["ours_reward"]["peak_rss_mb"], res["trl_reward"]["peak_rss_mb"], ""),
    ], "ours", "TRL 1.12")


if __name__ == "__main__":
    main()
