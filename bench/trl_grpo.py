"""Our GRPO engine vs TRL 1.16's GRPOTrainer with LoRA: samples/s and peak memory, in one run (issue 28).

    bash bench/setup_trl116_venv.sh               # once: bench/.venv-trl116 with trl==1.16.0
    .venv/bin/python bench/trl_grpo.py            # SmolLM2-135M, float32, CPU, 4 prompts x k 4, 48 tokens, 3 rounds
    .venv/bin/python bench/trl_grpo.py --beta 0.04                                    # with the KL loss term
    .venv/bin/python bench/trl_grpo.py --model tiny --new-tokens 8 --iterations 2     # quick smoke run

The same setup as bench/trl_rloo.py (its flags, LoRA r 8 / alpha 16 on q_proj, v_proj, reward model a separate
`AutoModelForSequenceClassification` on TRL's side and a fresh "reward" adapter + ScalarHead on ours, one
generation batch = one optimizer step, float32, TRL's default gradient checkpointing), with GRPO's settings on
both sides: k = `num_generations`, beta (default 0.0, TRL's: no reference model on either side), epsilon 0.2,
loss_type "dapo", scale_rewards "group". Goal (issue 28): >= 1.5x TRL's samples/s at <= 0.5x its peak memory;
report the machine's load and `--threads` with the figures.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import PROMPTS, child_main, median, print_table, run_variants  # noqa: E402
from bench.trl_rloo import BF16, LORA, TARGET_MEMORY, TARGET_SPEED, TRL116_PYTHON, parser  # noqa: E402


def grpo_parser():
    p = parser()
    p.description = __doc__.split("\n")[0]
    p.add_argument("--beta", type=float, default=0.0, help="KL loss weight on both sides (default 0.0, TRL's)")
    return p


def ours(args) -> dict:
    """Our engine: train_grpo on one SharedBase with sft (reference and start) and reward adapters."""
    import torch

    from studio.training.online_configs import GRPOConfig
    from studio.training.engine import Hooks
    from studio.training.grpo import train_grpo
    from studio.training.models import load_model
    from studio.training.reward import RewardScorer
    from studio.training.heads import ScalarHead
    from studio.training.shared_base import SharedBase

    t0 = time.perf_counter()
    torch.manual_seed(0)
    base = SharedBase.from_loaded(load_model(args.model_dir, device=args.device))
    tmp = Path(tempfile.mkdtemp(prefix="bench-grpo-"))
    for name in ("sft", "reward"):  # fresh adapters, saved and loaded back frozen as runs.py does
        base.add_lora(name, r=LORA["r"], alpha=LORA["alpha"], targets=LORA["targets"])
        base.save_adapter(name, tmp / name)
        base.load_adapter(name, tmp / name)
    scorer = RewardScorer(base, "reward", ScalarHead(base.hidden_size).to(base.device))
    load_s = time.perf_counter() - t0
    rows: list[dict] = []
    cpu_marks: list[float] = []  # process CPU time at the first stop check (the start) and after each round

    def start() -> bool:
        if not cpu_marks:
            cpu_marks.append(time.process_time())
        return False

    def round_done(step: int, metrics: dict) -> None:
        rows.append(metrics)
        cpu_marks.append(time.process_time())

    config = GRPOConfig(iterations=args.iterations, batch_size=args.batch, samples_per_prompt=args.k,
                        max_new_tokens=args.new_tokens, lr=1e-4, beta=args.beta, prompts_per_pass=args.prompts_per_pass,
                        lora_r=LORA["r"], lora_alpha=LORA["alpha"], checkpoint_every=10**6,
                        bf16_autocast=BF16[args.ours_bf16])
    result = train_grpo(base, PROMPTS, scorer.normalised, config, tmp / "run",
                        Hooks(on_metrics=round_done, should_stop=start))
    assert result.status == "finished", result
    times = [r["iteration_s"] for r in rows]
    cpu = [b - a for a, b in zip(cpu_marks, cpu_marks[1:])]
    return {"iteration_s": median(times), "iteration_times": times, "cpu_s": median(cpu), "cpu_times": cpu,
            "samples_per_s": args.batch * args.k / median(times),
            "response_length": median([r["response_length"] for r in rows]), "load_s": load_s}


def trl(args) -> dict:
    """TRL 1.16's GRPOTrainer (runs in bench/.venv-trl116)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    t0 = time.perf_counter()
    folder = args.model_dir
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    policy = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    reward_model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=torch.float32,
                                                                      local_files_only=True)
    reward_tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in PROMPTS]})
    completions = args.batch * args.k
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-grpo-"), per_device_train_batch_size=completions,
        gradient_accumulation_steps=1, steps_per_generation=1, num_generations=args.k, num_iterations=1,
        max_completion_length=args.new_tokens, temperature=1.0, top_p=1.0, learning_rate=1e-4, beta=args.beta,
        epsilon=0.2, loss_type="dapo", scale_rewards="group", max_steps=args.iterations, bf16=False, fp16=False,
        use_cpu=args.device == "cpu", gradient_checkpointing=not args.trl_no_checkpointing, report_to="none",
        save_strategy="no", logging_strategy="no", seed=0, disable_tqdm=True)

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
    trainer = GRPOTrainer(model=policy, reward_funcs=reward_model, args=config, train_dataset=data,
                          processing_class=tok, reward_processing_classes=reward_tok, callbacks=[clock],
                          peft_config=LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
                                                 target_modules=LORA["targets"], task_type="CAUSAL_LM"))
    load_s = time.perf_counter() - t0
    trainer.train()
    times = [b - a for a, b in zip(clock.marks, clock.marks[1:])]
    cpu = [b - a for a, b in zip(clock.cpu_marks, clock.cpu_marks[1:])]
    return {"iteration_s": median(times), "iteration_times": times, "cpu_s": median(cpu), "cpu_times": cpu,
            "samples_per_s": completions / median(times),
            "load_s": load_s, "gradient_checkpointing": not args.trl_no_checkpointing}


VARIANTS = {"ours": ours, "trl": trl}


def main() -> None:
    args = grpo_parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    if not TRL116_PYTHON.exists():
        sys.exit(f"{TRL116_PYTHON} is missing: run `bash bench/setup_trl116_venv.sh` first")
    res = run_variants(Path(__file__), args, list(VARIANTS),
                       f"GRPO vs TRL 1.16: {args.model} on {args.device}, {args.batch} prompts x k {args.k}, "
                       f"{args.new_tokens} new tokens, beta {args.beta}, LoRA r 8 q/v, {args.iterations} rounds, "
                       f"threads {args.threads or 'default'}, ours bf16 {args.ours_bf16}", pythons={"trl": TRL116_PYTHON})
    a, b = res["ours"], res["trl"]
    mem = "peak_cuda_mb" if args.device.startswith("cuda") else "peak_rss_mb"
    speed, memory = a["samples_per_s"] / b["samples_per_s"], a[mem] / b[mem]
    print_table("GRPO round: ours vs TRL 1.16 GRPOTrainer", [
        ("samples/s (median round)", a["samples_per_s"], b["samples_per_s"],
         f"target >= {TARGET_SPEED}x: {'met' if speed >= TARGET_SPEED else 'NOT met'}"),
        ("round s (median)", a["iteration_s"], b["iteration_s"], "lower is better"),
        ("samples per CPU s (median round)", args.batch * args.k / a["cpu_s"], args.batch * args.k / b["cpu_s"],
         "process CPU time: steadier than wall time on a loaded machine"),
        (f"{mem} (MiB)", a[mem], b[mem],
         f"target <= {TARGET_MEMORY}x: {'met' if memory <= TARGET_MEMORY else 'NOT met'}"),
    ], "ours", "TRL 1.16")


if __name__ == "__main__":
    main()
