"""A rule-only GRPO run (issue 28, "Rewards you can write down"): does "answer with a number" move the pass rate?

    .venv/bin/python bench/rule_grpo.py                                   # the embedded model, 24 rounds
    .venv/bin/python bench/rule_grpo.py --model tests/tiny --iterations 2 --new-tokens 8   # a dry run

Arithmetic prompts ("What is 7 + 5? Answer with a number.") with numeric reference answers, imported as
`{"prompt", "answer"}` lines into a fresh project; a third held out. The reward is one term, `rule:number` (1 when
the last number of the answer equals the reference as a number), no reward model. Before and after, the greedy
answer to each held-out prompt is checked by the same rule (the pass rate); the KL the run cost is its last round's
`kl` (GRPO's k3 estimate over the round's answers, measured with --beta > 0) and the final `reward/number`.
Prints one JSON line and writes nothing outside its temporary project.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def arithmetic(n: int, seed: int = 0) -> list[dict]:
    """`n` distinct sums and differences of small numbers, with their answers."""
    rng, rows, seen = random.Random(seed), [], set()
    while len(rows) < n:
        a, b, op = rng.randint(1, 20), rng.randint(1, 20), rng.choice("+-")
        if (a, b, op) in seen:
            continue
        seen.add((a, b, op))
        rows.append({"prompt": f"What is {a} {op} {b}? Answer with a number.",
                     "answer": str(a + b if op == "+" else a - b)})
    return rows


def pass_rate(project, base, policy: str, rows: list[dict], new_tokens: int) -> float:
    from studio.core.reward_terms import parse_term
    from studio.training.runs import default_sampling, sample

    rule = parse_term("rule:number")
    answers = sample(project, base, policy, [r["prompt"] for r in rows],
                     default_sampling(base, do_sample=False, temperature=0, max_new_tokens=new_tokens))
    return sum(rule.score(a, r["answer"]) for a, r in zip(answers, rows)) / len(rows)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="embedded", help="embedded (default) or a model folder")
    p.add_argument("--prompts", type=int, default=48)
    p.add_argument("--iterations", type=int, default=24)
    p.add_argument("--k", type=int, default=8, help="answers per prompt")
    p.add_argument("--batch-size", type=int, default=4, help="prompts per round")
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--beta", type=float, default=0.04, help="KL loss weight (> 0 measures the KL)")
    p.add_argument("--lr", type=float, default=2e-5)
    args = p.parse_args(argv)

    import torch

    from studio.core.import_export import import_prompts
    from studio.core.jsonl import write_jsonl
    from studio.core.project import Project
    from studio.training.online_configs import GRPOConfig
    from studio.training.runs import open_base, train

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = arithmetic(args.prompts)
    held_out, training = rows[: len(rows) // 3], rows[len(rows) // 3:]
    with tempfile.TemporaryDirectory(prefix="bench-rule-grpo-") as folder:
        project = Project.init(Path(folder) / "p", model=args.model)
        write_jsonl(Path(folder) / "train.jsonl", training)
        import_prompts(project.store, Path(folder) / "train.jsonl")
        base = open_base(project)
        before = pass_rate(project, base, "base", held_out, args.new_tokens)
        config = GRPOConfig(iterations=args.iterations, batch_size=args.batch_size, samples_per_prompt=args.k,
                            max_new_tokens=args.new_tokens, beta=args.beta, lr=args.lr, checkpoint_every=1000)
        t0 = time.perf_counter()
        run_id, result = train(project, base, "grpo", config, init="base", terms=["rule:number"])
        seconds = time.perf_counter() - t0
        after = pass_rate(project, base, str(run_id), held_out, args.new_tokens)
        first = {m["name"]: m["value"] for m in project.store.metrics(run_id) if m["step"] == 1}
        report = {"model": args.model, "held_out": len(held_out), "train_prompts": len(training), "k": args.k,
                  "iterations": result.step, "status": result.status, "pass_rate_before": before,
                  "pass_rate_after": after, "reward_number_first": first.get("reward/number"),
                  "reward_number_last": result.metrics.get("reward/number"), "kl_last": result.metrics.get("kl"),
                  "beta": args.beta, "train_s": round(seconds, 1), "threads": torch.get_num_threads()}
        project.close()
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
