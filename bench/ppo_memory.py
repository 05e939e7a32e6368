"""Peak memory and samples/s of one PPO iteration: our shared-base engine vs a four-model PPO.

    .venv/bin/python bench/ppo_memory.py                      # SmolLM2-135M, float32, CPU, batch 8, 48 tokens
    .venv/bin/python bench/ppo_memory.py --model tiny --new-tokens 8 --iterations 1   # a quick smoke run

Ours: `train_ppo` on one SharedBase holding a fresh "sft" adapter (the reference and the policy's start)
and a fresh "reward" adapter + ScalarHead (the scorer), saved and loaded back as a real run would.
Baseline: `four_model_ppo.FourModelPPO` (separate policy+LoRA, reference, reward and value models).
Both: the same prompts, batch, response length, 4 PPO epochs, 1 minibatch, the same LoRA settings and
sampling seeds. Each variant runs in its own subprocess; samples/s is from the median iteration.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (PROMPTS, child_main, common_args, median, print_table, run_variants)  # noqa: E402

LORA = {"app": dict(r=16, alpha=32, targets=None), "qv8": dict(r=8, alpha=16, targets=["q_proj", "v_proj"])}


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--batch", type=int, default=8, help="prompts per iteration (default 8)")
    p.add_argument("--new-tokens", type=int, default=48, help="max new tokens per response (default 48)")
    p.add_argument("--epochs", type=int, default=4, help="PPO epochs per iteration (default 4)")
    p.add_argument("--minibatches", type=int, default=1, help="minibatches per epoch (default 1)")
    p.add_argument("--iterations", type=int, default=2, help="iterations per variant; the median is reported")
    p.add_argument("--lora", choices=sorted(LORA), default="app",
                   help="app: our default LoRA (r 16 on every linear layer); qv8: r 8 on q_proj/v_proj")
    return p


def ours(args: argparse.Namespace) -> dict:
    """Our engine: train_ppo on one SharedBase with sft (reference) and reward adapters."""
    import torch

    from studio.training.engine import Hooks
    from studio.training.models import load_model
    from studio.training.ppo import PPOConfig, train_ppo
    from studio.training.reward import RewardScorer
    from studio.training.heads import ScalarHead
    from studio.training.shared_base import SharedBase

    t0 = time.perf_counter()
    torch.manual_seed(0)
    base = SharedBase.from_loaded(load_model(args.model_dir, device=args.device))
    lora = LORA[args.lora]
    tmp = Path(tempfile.mkdtemp(prefix="bench-ppo-"))
    for name in ("sft", "reward"):  # fresh adapters, saved and loaded back frozen as runs.py does
        base.add_lora(name, r=lora["r"], alpha=lora["alpha"], targets=lora["targets"])
        base.save_adapter(name, tmp / name)
        base.load_adapter(name, tmp / name)
    scorer = RewardScorer(base, "reward", ScalarHead(base.hidden_size).to(base.device))
    load_s = time.perf_counter() - t0
    rows: list[dict] = []
    config = PPOConfig(iterations=args.iterations, batch_size=args.batch, max_new_tokens=args.new_tokens,
                       ppo_epochs=args.epochs, minibatches=args.minibatches, lora_r=lora["r"],
                       lora_alpha=lora["alpha"], checkpoint_every=10**6)
    cpu_marks = [time.process_time()]  # CPU seconds per iteration: what contention inflates least

    def on_metrics(step: int, metrics: dict) -> None:
        rows.append(metrics)
        cpu_marks.append(time.process_time())

    result = train_ppo(base, PROMPTS, scorer, config, tmp / "run", Hooks(on_metrics=on_metrics))
    assert result.status == "finished", result
    times = [r["iteration_s"] for r in rows]
    cpu = [b - a for a, b in zip(cpu_marks, cpu_marks[1:])]
    return {"iteration_s": median(times), "iteration_times": times, "samples_per_s": args.batch / median(times),
            "response_length": median([r["response_length"] for r in rows]), "load_s": load_s,
            "iteration_cpu_s": median(cpu), "iteration_cpu_times": cpu}


def four_models(args: argparse.Namespace) -> dict:
    """The four-model baseline on the same settings."""
    from bench.four_model_ppo import FourModelConfig, FourModelPPO
    from studio.training.engine import batch_for_step

    t0 = time.perf_counter()
    lora = LORA[args.lora]
    extra = {"lora_targets": tuple(lora["targets"])} if lora["targets"] else {}
    ppo = FourModelPPO(args.model_dir, args.device, FourModelConfig(
        batch_size=args.batch, max_new_tokens=args.new_tokens, ppo_epochs=args.epochs,
        minibatches=args.minibatches, lora_r=lora["r"], lora_alpha=lora["alpha"], **extra))
    load_s = time.perf_counter() - t0
    rows = []
    for i in range(args.iterations):
        idx = batch_for_step(list(range(len(PROMPTS))), i, args.batch, 0)  # the prompts our engine picks
        rows.append(ppo.iteration([PROMPTS[j] for j in idx], seed=i))  # our engine's seed for round i (seed 0)
    times = [r["iteration_s"] for r in rows]
    return {"iteration_s": median(times), "iteration_times": times, "samples_per_s": args.batch / median(times),
            "response_length": median([r["response_length"] for r in rows]), "load_s": load_s,
            "generate_s": median([r["generate_s"] for r in rows]), "score_s": median([r["score_s"] for r in rows]),
            "update_s": median([r["update_s"] for r in rows])}


VARIANTS = {"ours": ours, "four_models": four_models}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    res = run_variants(Path(__file__), args, list(VARIANTS),
                       f"PPO memory: {args.model} on {args.device}, batch {args.batch}, {args.new_tokens} new tokens, "
                       f"{args.epochs} epochs x {args.minibatches} minibatch, LoRA {args.lora}")
    a, b = res["ours"], res["four_models"]
    mem = "peak_cuda_mb" if args.device.startswith("cuda") else "peak_rss_mb"
    print_table("One PPO iteration: shared base vs four models", [
        (f"{mem} (MiB)", a[mem], b[mem], "lower is better"),
        ("samples/s (median iteration)", a["samples_per_s"], b["samples_per_s"], "higher is better"),
        ("iteration s (median)", a["iteration_s"], b["iteration_s"], "lower is better"),
        ("mean response tokens", a["response_length"], b["response_length"], "same seeds; should match"),
    ], "ours (shared base)", "four-model PPO")


if __name__ == "__main__":
    main()
