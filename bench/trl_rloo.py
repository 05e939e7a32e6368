"""Our RLOO engine vs TRL 1.16's RLOOTrainer with LoRA: samples/s and peak memory, in one run.

    bash bench/setup_trl116_venv.sh               # once: bench/.venv-trl116 with trl==1.16.0
    .venv/bin/python bench/trl_rloo.py            # SmolLM2-135M, float32, CPU, 4 prompts x k 4, 48 tokens, 3 rounds
    .venv/bin/python bench/trl_rloo.py --model tiny --new-tokens 8 --iterations 2     # quick smoke run

TRL: `trl.RLOOTrainer`, policy = base + LoRA (r 8 / alpha 16 on q_proj, v_proj via `peft_config`),
reference = the same model with the adapter switched off (TRL's way with PEFT), the reward model a separate
`AutoModelForSequenceClassification` (num_labels 1) passed as `reward_funcs`, conversational prompts (chat
template), k = `num_generations`, one generation batch = one optimizer step (`steps_per_generation` 1,
`num_iterations` 1), beta 0.05, lr 1e-4, float32 (`bf16=False`), TRL's default gradient checkpointing
(on; `--trl-no-checkpointing` turns it off).
Ours: `train_rloo` on one SharedBase holding a fresh "sft" adapter (the reference and the policy's start) and
a fresh "reward" adapter + ScalarHead (the scorer), saved and loaded back as a real run would, with the
same LoRA. Both: the same model folder, prompts, k, prompts per round, response length, temperature 1; the
median round of `--iterations` is reported (samples = responses); each side in its own process.
Each round is also timed in process CPU seconds, which a machine shared with other jobs disturbs far less
than wall time (use `--threads 1` there, so CPU time is one core's).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import PROMPTS, ROOT, child_main, common_args, median, print_table, run_variants  # noqa: E402

TRL116_PYTHON = ROOT / "bench" / ".venv-trl116" / "bin" / "python"
# targets from issue 9: ours >= 1.5x TRL 1.16's samples/s, <= 0.5x its peak memory
TARGET_SPEED, TARGET_MEMORY = 1.5, 0.5
LORA = dict(r=8, alpha=16, targets=["q_proj", "v_proj"])


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--batch", type=int, default=4, help="prompts per round (default 4)")
    p.add_argument("--k", type=int, default=4, help="responses per prompt (default 4)")
    p.add_argument("--new-tokens", type=int, default=48, help="max new tokens per response (default 48)")
    p.add_argument("--iterations", type=int, default=3, help="rounds per side; the median is reported")
    p.add_argument("--prompts-per-pass", type=int, default=1, help="ours: prompts per forward/backward pass")
    p.add_argument("--trl-no-checkpointing", action="store_true", help="turn off TRL's default gradient checkpointing")
    p.add_argument("--ours-bf16", choices=list(BF16), default="auto",
                   help="ours: bf16 autocast as the studio decides (auto: on with native bf16), on, or off (float32, "
                        "as on a CPU without native bf16)")
    return p


BF16 = {"auto": None, "on": True, "off": False}  # --ours-bf16 -> the engines' bf16_autocast


def ours(args: argparse.Namespace) -> dict:
    """Our engine: train_rloo on one SharedBase with sft (reference) and reward adapters."""
    import torch

    from studio.training.online_configs import RLOOConfig
    from studio.training.engine import Hooks
    from studio.training.models import load_model
    from studio.training.reward import RewardScorer
    from studio.training.rloo import train_rloo
    from studio.training.heads import ScalarHead
    from studio.training.shared_base import SharedBase

    t0 = time.perf_counter()
    torch.manual_seed(0)
    base = SharedBase.from_loaded(load_model(args.model_dir, device=args.device))
    tmp = Path(tempfile.mkdtemp(prefix="bench-rloo-"))
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

    config = RLOOConfig(iterations=args.iterations, batch_size=args.batch, samples_per_prompt=args.k,
                        max_new_tokens=args.new_tokens, lr=1e-4, beta=0.05, prompts_per_pass=args.prompts_per_pass,
                        lora_r=LORA["r"], lora_alpha=LORA["alpha"], checkpoint_every=10**6,
                        bf16_autocast=BF16[args.ours_bf16])
    result = train_rloo(base, PROMPTS, scorer.normalised, config, tmp / "run",
                        Hooks(on_metrics=round_done, should_stop=start))
    assert result.status == "finished", result
    times = [r["iteration_s"] for r in rows]
    cpu = [b - a for a, b in zip(cpu_marks, cpu_marks[1:])]
    return {"iteration_s": median(times), "iteration_times": times, "cpu_s": median(cpu), "cpu_times": cpu,
            "samples_per_s": args.batch * args.k / median(times),
            "response_length": median([r["response_length"] for r in rows]), "load_s": load_s}


def trl(args: argparse.Namespace) -> dict:
    """TRL 1.16's RLOOTrainer (runs in bench/.venv-trl116)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

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
    config = RLOOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-rloo-"), per_device_train_batch_size=completions,
        gradient_accumulation_steps=1, steps_per_generation=1, num_generations=args.k, num_iterations=1,
        max_completion_length=args.new_tokens, temperature=1.0, top_p=1.0, learning_rate=1e-4, beta=0.05,
        max_steps=args.iterations, bf16=False, fp16=False, use_cpu=args.device == "cpu",
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
    trainer = RLOOTrainer(model=policy, reward_funcs=reward_model, args=config, train_dataset=data,
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
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    if not TRL116_PYTHON.exists():
        sys.exit(f"{TRL116_PYTHON} is missing: run `bash bench/setup_trl116_venv.sh` first")
    res = run_variants(Path(__file__), args, list(VARIANTS),
                       f"RLOO vs TRL 1.16: {args.model} on {args.device}, {args.batch} prompts x k {args.k}, "
                       f"{args.new_tokens} new tokens, LoRA r 8 q/v, {args.iterations} rounds, "
                       f"threads {args.threads or 'default'}, ours bf16 {args.ours_bf16}", pythons={"trl": TRL116_PYTHON})
    a, b = res["ours"], res["trl"]
    mem = "peak_cuda_mb" if args.device.startswith("cuda") else "peak_rss_mb"
    speed, memory = a["samples_per_s"] / b["samples_per_s"], a[mem] / b[mem]
    print_table("RLOO round: ours vs TRL 1.16 RLOOTrainer", [
        ("samples/s (median round)", a["samples_per_s"], b["samples_per_s"],
         f"target >= {TARGET_SPEED}x: {'met' if speed >= TARGET_SPEED else 'NOT met'}"),
        ("round s (median)", a["iteration_s"], b["iteration_s"], "lower is better"),
        ("samples per CPU s (median round)", args.batch * args.k / a["cpu_s"], args.batch * args.k / b["cpu_s"],
         "process CPU time: steadier than wall time on a loaded machine"),
        (f"{mem} (MiB)", a[mem], b[mem], f"target <= {TARGET_MEMORY}x: {'met' if memory <= TARGET_MEMORY else 'NOT met'}"),
    ], "ours", "TRL 1.16")


if __name__ == "__main__":
    main()
