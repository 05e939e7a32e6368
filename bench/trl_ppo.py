"""Our PPO engine vs TRL 1.12's own PPOTrainer with LoRA: samples/s and peak memory.

    bash bench/setup_trl_venv.sh                  # once: bench/.venv-trl with trl==1.12.0 (the last with PPO)
    .venv/bin/python bench/trl_ppo.py             # SmolLM2-135M, float32, CPU, batch 8, 48 tokens, 3 iterations
    .venv/bin/python bench/trl_ppo.py --model tiny --new-tokens 8 --iterations 2      # quick smoke run

TRL: `trl.experimental.ppo.PPOTrainer`, policy = base + LoRA (r 8 on q_proj/v_proj, via `peft_config`),
reference = the same model with the adapter switched off (TRL's `ref_model=None` with PEFT), separate
reward and value models (`AutoModelForSequenceClassification`, num_labels 1), stop at EOS, float32
(`bf16=False`; `--trl-bf16` gives TRL's own default, bf16 mixed precision), TRL's default gradient checkpointing
(on; `--trl-no-checkpointing` turns it off).
Ours: `train_ppo` exactly as in ppo_memory.py, with the same LoRA (r 8 on q/v) unless `--lora app`, at its
defaults (bf16 autocast for the learning passes on a CPU with native bf16).
Both: the same model folder, prompts (chat template), batch, response length, temperature 1,
4 PPO epochs, 1 minibatch; the median iteration of `--iterations` is reported; each in its own process.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (PROMPTS, TRL_PYTHON, child_main, median, print_table, run_variants)  # noqa: E402
from bench.ppo_memory import ours, parser as ppo_parser  # noqa: E402

# targets from issue 9 ("Speed toward the floor"): ours >= 2.5x TRL's samples/s, <= 0.4x its peak memory
TARGET_SPEED, TARGET_MEMORY = 2.5, 0.4


def parser() -> argparse.ArgumentParser:
    p = ppo_parser()
    p.description = __doc__.split("\n")[0]
    p.set_defaults(iterations=3, lora="qv8")
    p.add_argument("--trl-bf16", action="store_true",
                   help="TRL in its default bf16 mixed precision (autocast) instead of float32")
    p.add_argument("--trl-no-checkpointing", action="store_true",
                   help="turn off TRL's default gradient checkpointing")
    return p


def trl(args: argparse.Namespace) -> dict:
    """TRL 1.12's PPOTrainer (runs in bench/.venv-trl)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    t0 = time.perf_counter()
    folder = args.model_dir
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    dtype = torch.float32

    def causal():
        return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)

    def scalar():
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=dtype,
                                                                   local_files_only=True)
        model.config.pad_token_id = tok.pad_token_id
        return model

    policy, reward_model, value_model = causal(), scalar(), scalar()
    queries = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=True)
               for p in PROMPTS]
    queries = [q["input_ids"] if isinstance(q, dict) or hasattr(q, "keys") else q for q in queries]
    data = Dataset.from_dict({"input_ids": queries})
    lora = dict(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]) if args.lora == "qv8" else \
        dict(r=16, lora_alpha=32, target_modules="all-linear")
    config = PPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-ppo-"),
        per_device_train_batch_size=args.batch, gradient_accumulation_steps=1, num_mini_batches=args.minibatches,
        num_ppo_epochs=args.epochs, total_episodes=args.batch * args.iterations, response_length=args.new_tokens,
        local_rollout_forward_batch_size=args.batch, temperature=1.0, stop_token="eos", learning_rate=1e-4,
        kl_coef=0.05, num_sample_generations=0, bf16=args.trl_bf16, fp16=False, use_cpu=args.device == "cpu",
        gradient_checkpointing=not args.trl_no_checkpointing, report_to="none", save_strategy="no",
        logging_strategy="no", seed=0, disable_tqdm=True)

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: list[float] = []
            self.cpu_marks: list[float] = []

        def on_train_begin(self, *a, **k):
            self.marks.append(time.perf_counter())
            self.cpu_marks.append(time.process_time())

        def on_step_end(self, *a, **k):
            self.marks.append(time.perf_counter())
            self.cpu_marks.append(time.process_time())

    clock = Clock()
    trainer = PPOTrainer(args=config, processing_class=tok, model=policy, ref_model=None, reward_model=reward_model,
                         value_model=value_model, train_dataset=data, eval_dataset=data, callbacks=[clock],
                         peft_config=LoraConfig(lora_dropout=0.0, task_type="CAUSAL_LM", **lora))
    load_s = time.perf_counter() - t0
    trainer.train()
    times = [b - a for a, b in zip(clock.marks, clock.marks[1:])]
    cpu = [b - a for a, b in zip(clock.cpu_marks, clock.cpu_marks[1:])]
    return {"iteration_s": median(times), "iteration_times": times, "samples_per_s": args.batch / median(times),
            "load_s": load_s, "gradient_checkpointing": not args.trl_no_checkpointing, "bf16": args.trl_bf16,
            "iteration_cpu_s": median(cpu), "iteration_cpu_times": cpu}


VARIANTS = {"ours": ours, "trl": trl}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    if not TRL_PYTHON.exists():
        sys.exit(f"{TRL_PYTHON} is missing: run `bash bench/setup_trl_venv.sh` first")
    res = run_variants(Path(__file__), args, list(VARIANTS),
                       f"PPO vs TRL 1.12: {args.model} on {args.device}, batch {args.batch}, {args.new_tokens} new "
                       f"tokens, {args.epochs} epochs x {args.minibatches} minibatch, LoRA {args.lora}, "
                       f"{args.iterations} iterations", pythons={"trl": TRL_PYTHON})
    a, b = res["ours"], res["trl"]
    mem = "peak_cuda_mb" if args.device.startswith("cuda") else "peak_rss_mb"
    speed, memory = a["samples_per_s"] / b["samples_per_s"], a[mem] / b[mem]
    print_table("PPO iteration: ours vs TRL 1.12 PPOTrainer", [
        ("samples/s (median iteration)", a["samples_per_s"], b["samples_per_s"],
         f"target >= {TARGET_SPEED}x: {'met' if speed >= TARGET_SPEED else 'NOT met'}"),
        ("iteration s (median)", a["iteration_s"], b["iteration_s"], "lower is better"),
        ("iteration CPU s (median)", a["iteration_cpu_s"], b["iteration_cpu_s"],
         f"CPU samples/s ratio {b['iteration_cpu_s'] / a['iteration_cpu_s']:.2f}x (less load-sensitive)"),
        (f"{mem} (MiB)", a[mem], b[mem], f"target <= {TARGET_MEMORY}x: {'met' if memory <= TARGET_MEMORY else 'NOT met'}"),
    ], "ours", "TRL 1.12")


if __name__ == "__main__":
    main()
