"""How well does an AI judge label by a written principle? Agreement with a known rule on a synthetic set.

Each task pairs a principle with the rule that is its ground truth and a synthetic set of 2-answer
comparisons where exactly one answer follows the rule. The judge (the embedded SmolLM2-135M by
default, or any local model folder / GGUF with --model) labels every comparison through
`training.judge.label_with_judge`, in both orders; we report the share it abstains on (the two
orders disagree) and, of the labels it keeps, the share that agree with the rule.

    python bench/ai_feedback.py [--model SPEC] [--pairs 40]
"""
from __future__ import annotations

import argparse
import os
import random
import time

import torch

from studio.core.rules import Rule
from studio.core.store import Store
from studio.training.judge import Judge, ai_annotator, label_with_judge
from studio.training.models import load_model
from studio.training.shared_base import SharedBase

TOPICS = ["the sea", "bread", "a bicycle", "winter", "a library", "coffee", "the moon", "a garden", "trains",
          "music", "rain", "a mountain", "cats", "a market", "paper", "a bridge", "honey", "clocks", "a river", "tea"]
FACTS = ["it is older than most people think", "people have loved it for centuries", "it changes with the seasons",
         "it can be found in many countries", "it is simple but useful", "children often ask about it"]
TASKS = [
    ("Prefer the shorter, more concise answer.", "shorter",
     lambda rng, t: (f"{t.capitalize()}: {rng.choice(FACTS)}.",
                     f"Well, when we talk about {t}, there is a lot to say, and I would like to say that "
                     f"{rng.choice(FACTS)}, and also that {rng.choice(FACTS)}, which is worth remembering.")),
    ("Prefer the answer that is polite.", "contains:please",
     lambda rng, t: (f"Please note that {t} is nice; {rng.choice(FACTS)}. Thank you for asking!",
                     f"{t.capitalize()} is nice; {rng.choice(FACTS)}. Stop asking me obvious things.")),
]


def make_set(store: Store, make, n: int, seed: int) -> None:
    """n comparisons; the rule-following answer sits first or second at random."""
    rng = random.Random(seed)
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        good, bad = make(rng, topic)
        pid = store.add_prompt(f"Tell me about {topic}. ({i})")
        texts = [good, bad] if rng.random() < 0.5 else [bad, good]
        store.add_comparison(pid, [store.add_response(pid, t, "synthetic") for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--pairs", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    base = SharedBase.from_loaded(load_model(args.model, device="cpu"))
    print(f"judge {args.model} · {torch.get_num_threads()} threads · load {os.getloadavg()[0]:.1f}")
    print("| principle | ground-truth rule | pairs | abstained | agreement of kept labels | s per pair |")
    print("|---|---|---|---|---|---|")
    for seed, (principle, rule_text, make) in enumerate(TASKS):
        rule = Rule.parse(rule_text)
        with Store(None) as store:
            make_set(store, make, args.pairs, seed)
            t0 = time.perf_counter()
            count = label_with_judge(store, Judge(base), principle)
            elapsed = time.perf_counter() - t0
            truth = {c.id: rule.order(c.responses)[0] for c in store.comparisons()}
            kept = [r for r in store.rankings() if r.annotator == ai_annotator(principle)]
            agree = sum(r.order[0] == truth[r.comparison_id] for r in kept)
            rate = f"{agree / len(kept):.0%} ({agree}/{len(kept)})" if kept else "n/a"
            print(f"| {principle} | {rule_text} | {args.pairs} | {count.abstained / args.pairs:.0%} | {rate} | "
                  f"{elapsed / args.pairs:.2f} |")


if __name__ == "__main__":
    main()
