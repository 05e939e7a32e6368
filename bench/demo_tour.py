"""How long does the demo project's guided tour take? Every training step of resources/demo/tour.html, headless.

Runs the tour's steps through the CLI (the same engines as the GUI) in a fresh demo project on the
embedded model: SFT (30 steps), generate 2 answers for each of the 20 prompts, label them with the rule,
reward model (40 steps), health report, PPO (10 iterations, 48 tokens), gold export. Prints the
seconds of each step and the total, with the thread count and the load average; exits 1 when a step failed.
`--quick` runs the same steps with tiny budgets (2 steps, 1 PPO iteration, 8 tokens): a smoke test that
the tour works, not a timing.

    python bench/demo_tour.py [--threads 2] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from studio.cli import main as studio
from studio.core.demo import create_demo_project, demo_settings

TOUR = {"sft_steps": 30, "tokens": 48, "reward_steps": 40, "ppo_iterations": 10, "ppo_batch": 4}
QUICK = {"sft_steps": 2, "tokens": 8, "reward_steps": 2, "ppo_iterations": 1, "ppo_batch": 2}


def tour_steps(d: str, s: dict) -> list[tuple[str, list[str]]]:
    """(name, CLI arguments) of each step of the tour on project folder `d` with budgets `s`."""
    return [(f"SFT, {s['sft_steps']} steps", ["train", "sft", d, "--steps", str(s["sft_steps"])]),
            (f"generate 2 answers x 20 prompts, {s['tokens']} tokens",
             ["generate", d, "--per-prompt", "2", "--max-new-tokens", str(s["tokens"]), "--seed", "0"]),
            ("rule labeller", ["label", "rule", d, "--rule", demo_settings()["rule"]]),
            (f"reward model, {s['reward_steps']} steps", ["train", "reward", d, "--steps", str(s["reward_steps"])]),
            ("health report", ["rm-report", d]),
            (f"PPO, {s['ppo_iterations']} iterations x {s['ppo_batch']} prompts",
             ["train", "ppo", d, "--steps", str(s["ppo_iterations"]), "--batch-size", str(s["ppo_batch"]),
              "--set", f"max_new_tokens={s['tokens']}"]),
            ("gold export", ["gold", "export", d, str(Path(d).parent / "gold.jsonl")])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check that every step runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demo"
        create_demo_project(folder).close()
        load = os.getloadavg()[0]
        times = []
        for name, argv in tour_steps(str(folder), QUICK if args.quick else TOUR):
            t0 = time.perf_counter()
            code = studio(argv)
            times.append((name, time.perf_counter() - t0, code))
    print(f"\n{args.threads} threads · load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
          + (" · --quick (a smoke test, not a timing)" if args.quick else ""))
    print("| step | seconds | exit code |\n|---|---:|---:|")
    for name, seconds, code in times:
        print(f"| {name} | {seconds:.0f} | {code} |")
    print(f"| **total** | **{sum(s for _, s, _ in times):.0f}** | |")
    return 1 if any(code for _, _, code in times) else 0


if __name__ == "__main__":
    sys.exit(main())
