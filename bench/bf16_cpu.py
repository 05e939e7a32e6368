"""bfloat16 autocast on CPU against float32: speed of PPO's rollout (sampling) and of its scoring forward, and how
close the results stay (greedy answers, response log-probs). Times are this process's CPU seconds (run it with
--threads 1 on a loaded machine: CPU time then stands for the idle machine's wall time), and the two variants
alternate round by round.

    .venv/bin/python bench/bf16_cpu.py --threads 2 [--rounds 3]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import PROMPTS  # noqa: E402
from studio.training.configs import SamplingConfig  # noqa: E402
from studio.training.generation import generate, generate_tokens  # noqa: E402
from studio.training.models import load_model  # noqa: E402
from studio.training.ppo import forward  # noqa: E402
from studio.training.shared_base import SharedBase  # noqa: E402


def autocast(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = SharedBase.from_loaded(load_model("embedded", device="cpu"))
    base.add_lora("policy")
    prompts = PROMPTS[:args.batch]
    sampling = SamplingConfig(max_new_tokens=args.tokens, temperature=1.0, top_p=1.0, seed=0)
    times: dict[str, dict[str, list[float]]] = {"fp32": {"rollout": [], "forward": []},
                                                "bf16": {"rollout": [], "forward": []}}
    batch = None
    with base.use("policy") as model:
        for _ in range(args.rounds):
            for name in ("fp32", "bf16"):
                t0 = time.process_time()
                with autocast(name == "bf16"), torch.no_grad():
                    rolled = generate_tokens(model, base.tokenizer, prompts, sampling)
                times[name]["rollout"].append(time.process_time() - t0)
                batch = batch or rolled  # score the same tokens in both variants
                ids = torch.cat([batch.query_ids, batch.response_ids], 1)
                attention = torch.cat([batch.query_mask, torch.ones_like(batch.response_ids)], 1)
                t0 = time.process_time()
                with autocast(name == "bf16"), torch.no_grad():
                    logprobs, _, _ = forward(base, None, ids, attention, batch.query_ids.size(1), 1.0)
                times[name]["forward"].append(time.process_time() - t0)
                if name == "fp32":
                    reference = logprobs
                else:
                    mask = batch.response_mask.bool()
                    diff = (logprobs - reference)[mask].abs()
        greedy = SamplingConfig(max_new_tokens=32, do_sample=False)
        answers = {}
        for name in ("fp32", "bf16"):
            with autocast(name == "bf16"):
                answers[name] = [a[0] for a in generate(model, base.tokenizer, prompts, greedy)]
    same = sum(a == b for a, b in zip(answers["fp32"], answers["bf16"]))
    result = {
        "threads": args.threads, "batch": args.batch, "tokens": args.tokens,
        "median_s": {n: {k: round(statistics.median(v), 2) for k, v in t.items()} for n, t in times.items()},
        "speedup_bf16": {k: round(statistics.median(times["fp32"][k]) / statistics.median(times["bf16"][k]), 2)
                         for k in ("rollout", "forward")},
        "logprob_abs_diff": {"mean": round(diff.mean().item(), 4), "max": round(diff.max().item(), 4)},
        "greedy_identical": f"{same}/{len(prompts)}",
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
