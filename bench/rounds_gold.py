"""The ceiling of bench/rounds.py's RL budget: PPO at its defaults against the rule itself (a perfect reward model,
given as a Python reward term, `file:gold`) instead of a reward model trained on 60 labels, evaluated as rounds.py
evaluates (held-out win rate against the SFT policy by the rule, ties half; degenerate share). Where this ceiling is
far above what the labels' reward model reaches, the labels (how much a reward model learns from them) hold the win
rate, not the RL; where it is not, no reward model could add much in this budget.

    .venv/bin/python bench/rounds_gold.py --seed-project DIR --rules wordy simple [--seeds 1] [--iterations N]
        [--threads 1] [--out F]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rounds  # noqa: E402
from studio.core.project import Project  # noqa: E402
from studio.training import runs  # noqa: E402
from studio.training.online_configs import PPOConfig  # noqa: E402


def gold_setting(seed_dir: Path, work: Path, rule: str, seed: int, iterations: int) -> dict:
    """PPO (`iterations` rounds) against `rule` itself from the seeded project's SFT run; its held-out numbers."""
    folder = work / f"{rule}-gold-{iterations}/seed{seed}"
    shutil.copytree(seed_dir, folder)
    project = Project.open(folder)
    t0 = time.perf_counter()
    base = runs.open_base(project, device="cpu")
    measure = rounds.RULES[rule][0]

    def gold(prompts: list[str], answers: list[str], references: list[str | None]) -> list[float]:
        return [measure(p, a) for p, a in zip(prompts, answers)]

    config = dataclasses.replace(PPOConfig(), seed=seed, iterations=iterations)
    ppo_id, result = runs.train(project, base, "ppo", config, terms=["1*file:gold"], functions={"gold": gold})
    wall = time.perf_counter() - t0
    sft_answers = json.loads((seed_dir / "sft_answers.json").read_text())
    out = {"folder": f"{rule}-gold-{iterations}/seed{seed}", "iterations": iterations,
           "final_kl": result.metrics.get("kl"),
           "target_kl": PPOConfig().target_kl, "wall_s": round(wall, 1),
           **rounds.evaluate(project, base, str(ppo_id), sft_answers, rule)}
    project.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-project", type=Path, default=None, help="a rounds.py seed folder (default: a new one)")
    parser.add_argument("--rules", nargs="+", default=["wordy", "simple"], choices=list(rounds.RULES))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=PPOConfig().iterations,
                        help="PPO rounds (default: the rounds bench's budget)")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="rounds-gold-"))
    seed_dir = args.seed_project or rounds.seed(work, args.model)
    results = {}
    for rule in args.rules:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            name = f"{rule} gold reward {args.iterations} rounds seed {seed}"
            results[name] = gold_setting(seed_dir, work, rule, seed, args.iterations)
            print(json.dumps({name: results[name]}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
