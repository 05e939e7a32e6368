"""How long does the demo project's guided tour take? Every training step of resources/demo/tour.html, headless.

Runs the tour's steps through the CLI (the same engines as the GUI) in a fresh demo project on the
embedded model: SFT (defaults), generate 2 answers of 48 tokens for each of the 20 prompts, label them with the
rule, reward model (defaults), health report, PPO (10 iterations of 4 prompts, 48 tokens), gold export. Prints the
seconds of each step and the total, with the thread count and the load average; exits 1 when a step failed.
`--quick` runs the same steps with tiny budgets (2 steps, 1 PPO iteration, 8 tokens): a smoke test that
the tour works, not a timing.

    python bench/demo_tour.py [--threads 1] [--quick]
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

# The tour's own settings (resources/demo/tour.html): SFT and the reward model at the engines' defaults (epochs),
# answers of 48 tokens (the Rank page's "Auto" on a CPU), PPO 10 iterations of 4 prompts.
TOUR = {"sft": [], "tokens": 48, "reward": [], "ppo": ["--steps", "10", "--batch-size", "4"]}
QUICK = {"sft": ["--steps", "2"], "tokens": 8, "reward": ["--steps", "2"],
         "ppo": ["--steps", "1", "--batch-size", "2", "--set", "max_new_tokens=8"]}


def tour_steps(d: str, s: dict) -> list[tuple[str, list[str]]]:
    """(name, CLI arguments) of each step of the tour on project folder `d` with budgets `s`."""
    return [("SFT", ["train", "sft", d, *s["sft"]]),
            (f"generate 2 answers x 20 prompts, {s['tokens']} tokens",
             ["generate", d, "--per-prompt", "2", "--max-new-tokens", str(s["tokens"]), "--seed", "0"]),
            ("rule labeller", ["label", "rule", d, "--rule", demo_settings()["rule"]]),
            ("reward model", ["train", "reward", d, *s["reward"]]),
            ("health report", ["rm-report", d]),
            ("PPO", ["train", "ppo", d, *s["ppo"]]),
            ("gold export", ["gold", "export", d, str(Path(d).parent / "gold.jsonl")])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the GUI uses cores - 1)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check that every step runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demo"
        create_demo_project(folder).close()
        load = os.getloadavg()[0]
        times = []
        for name, argv in tour_steps(str(folder), QUICK if args.quick else TOUR):
            t0, c0 = time.perf_counter(), time.process_time()
            code = studio(argv)
            times.append((name, time.perf_counter() - t0, time.process_time() - c0, code))
    print(f"\n{args.threads} threads · load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
          + (" · --quick (a smoke test, not a timing)" if args.quick else ""))
    print("| step | wall s | CPU s | exit code |\n|---|---:|---:|---:|")
    for name, seconds, cpu, code in times:
        print(f"| {name} | {seconds:.0f} | {cpu:.0f} | {code} |")
    print(f"| **total** | **{sum(t[1] for t in times):.0f}** | **{sum(t[2] for t in times):.0f}** | |")
    return 1 if any(t[3] for t in times) else 0


if __name__ == "__main__":
    sys.exit(main())
