"""How long the first comparison takes to appear after "Add prompts", at the Rank page's default answer length.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/first_comparison.py            # embedded SmolLM2, CPU

One child process: the model loaded as the GUI loads it (ModelHost, its torch threads), then for each of
`--prompts` new prompts, the time `generate_comparisons` takes to store one comparison of K=2 answers at
`default_answer_tokens(device)` (the "Auto" answer length) or `--tokens`. Goal: under 10 s on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import child_main, common_args, median, run_variants  # noqa: E402

GOAL_S = 10.0
PROMPTS = ["Why is the sky blue?", "How do I make a cup of tea?", "Suggest a name for a grey cat.",
           "What is a healthy breakfast?", "Give me one tip for learning a language."]


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--prompts", type=int, default=3, help="prompts timed one after another (default 3)")
    p.add_argument("--tokens", type=int, default=0, help="answer length (0: the device default)")
    return p


def first(args: argparse.Namespace) -> dict:
    from studio.core.project import Project
    from studio.training.configs import SamplingConfig
    from studio.training.runs import generate_comparisons
    from studio.core.answer_length import default_answer_tokens
    from studio.workers.job import ModelHost

    root = Path(tempfile.mkdtemp(prefix="bench-first-")) / "project"
    project = Project.init(root, model=args.model_dir)
    host = ModelHost(root, device=args.device)
    base = host.base(project, lambda _text: None)
    tokens = args.tokens or default_answer_tokens(str(base.device))
    times = []
    for prompt in PROMPTS[:args.prompts]:
        project.store.add_prompt(prompt)
        started = time.perf_counter()
        generate_comparisons(project, base, 2, sampling=SamplingConfig(max_new_tokens=tokens))
        times.append(time.perf_counter() - started)
    import torch

    project.close()
    return {"tokens": tokens, "seconds": times, "torch_threads": torch.get_num_threads()}


VARIANTS = {"first_comparison": first}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    r = run_variants(Path(__file__), args, list(VARIANTS),
                     f"First comparison: {args.model} on {args.device}")["first_comparison"]
    times = r["seconds"]
    print("\n".join([
        "### First comparison after Add prompts (K = 2)", "",
        "| answer length (tokens) | torch threads | first (s) | median (s) | max (s) | goal |", "|---:|---:|---:|---:|---:|---|",
        f"| {r['tokens']} | {r['torch_threads']} | {times[0]:.2f} | {median(times):.2f} | {max(times):.2f} | "
        f"< {GOAL_S:.0f} s: {'met' if max(times) < GOAL_S else 'NOT met'} |"]), flush=True)


if __name__ == "__main__":
    main()
