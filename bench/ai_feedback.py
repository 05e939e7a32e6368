"""How well does an AI judge label by a written principle? Agreement with a known rule on a synthetic set.

Each task pairs a principle with the rule that is its ground truth and a synthetic set of 2-answer
comparisons where exactly one answer follows the rule. The judge (the embedded SmolLM2-135M by
default, or any local model folder / GGUF with --model) reads every comparison in both orders
(`Judge.p_first`, then `core.ai_feedback.combine_orders`, exactly what `label_with_judge` does for
two answers); we report the share it abstains on (the two orders disagree), of the labels it keeps
the share that agree with the rule, the mean P(first answer) (position bias: 0.5 is none), and for
reference the agreement of the debiased mean of both orders with no abstention at all.

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
from studio.core.ai_feedback import combine_orders
from studio.training.judge import Judge
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
    print("| principle | ground-truth rule | pairs | abstained | agreement of kept labels | mean P(first) | "
          "debiased mean, no abstention | s per pair |")
    print("|---|---|---|---|---|---|---|---|")
    for seed, (principle, rule_text, make) in enumerate(TASKS):
        rule = Rule.parse(rule_text)
        with Store(None) as store:
            make_set(store, make, args.pairs, seed)
            judge, kept, debiased, firsts = Judge(base), [], 0, []
            t0 = time.perf_counter()
            for c in store.comparisons():
                ab, ba = judge.p_first(principle, c.prompt, [(c.responses[0], c.responses[1]),
                                                             (c.responses[1], c.responses[0])])
                firsts += [ab, ba]
                truth = rule.order(c.responses)[0][0]
                verdict = combine_orders(ab, ba)
                if verdict is not None:
                    kept.append(verdict[0] == truth)
                debiased += (0 if (ab + 1 - ba) / 2 > 0.5 else 1) == truth
            elapsed = time.perf_counter() - t0
            rate = f"{sum(kept) / len(kept):.0%} ({sum(kept)}/{len(kept)})" if kept else "n/a"
            print(f"| {principle} | {rule_text} | {args.pairs} | {1 - len(kept) / args.pairs:.0%} | {rate} | "
                  f"{sum(firsts) / len(firsts):.2f} | {debiased / args.pairs:.0%} | {elapsed / args.pairs:.2f} |")


if __name__ == "__main__":
    main()
