"""How long does the demo project's guided tour take? Every training step of resources/demo/tour.html, headless.

Runs the tour's steps through the CLI (the same engines as the GUI) in a fresh demo project on the
embedded model: SFT (30 steps), generate 2 answers for each of the 20 prompts, label them with the rule,
reward model (40 steps), health report, PPO (10 iterations, 48 tokens), gold export. Prints the
seconds of each step and the total, with the thread count and the load average.

    python bench/demo_tour.py [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from studio.cli import main as studio
from studio.core.demo import create_demo_project, demo_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp()) / "demo"
    create_demo_project(folder).close()
    d = str(folder)
    steps = [("SFT, 30 steps", ["train", "sft", d, "--steps", "30"]),
             ("generate 2 answers x 20 prompts", ["generate", d, "--per-prompt", "2", "--max-new-tokens", "48",
                                                  "--seed", "0"]),
             ("rule labeller", ["label", "rule", d, "--rule", demo_settings()["rule"]]),
             ("reward model, 40 steps", ["train", "reward", d, "--steps", "40"]),
             ("health report", ["rm-report", d]),
             ("PPO, 10 iterations x 4 prompts", ["train", "ppo", d, "--steps", "10", "--batch-size", "4",
                                                 "--set", "max_new_tokens=48"]),
             ("gold export", ["gold", "export", d, str(folder / "gold.jsonl")])]
    load = os.getloadavg()[0]
    times = []
    for name, argv in steps:
        t0 = time.perf_counter()
        code = studio(argv)
        times.append((name, time.perf_counter() - t0, code))
    print(f"\n{args.threads} threads · load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print("| step | seconds | exit code |\n|---|---:|---:|")
    for name, seconds, code in times:
        print(f"| {name} | {seconds:.0f} | {code} |")
    print(f"| **total** | **{sum(s for _, s, _ in times):.0f}** | |")


if __name__ == "__main__":
    main()
