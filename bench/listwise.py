"""Whole rankings against their pairs: held-out pair accuracy of the reward model per number of K = 4 rankings,
trained with `ranking_loss="pairs"` (InstructGPT: a ranking's 6 pairs share weight 1, Bradley-Terry) and with
`ranking_loss="plackett_luce"` (the Plackett-Luce likelihood of each whole ranking).

The labeller is the studio's rule labeller (`studio.core.rules`, rule `shorter`: the answer with fewer characters
is better, a strict order unless two answers are equally long), run on an in-memory store; the rankings reach the
losses through the studio's own data path (`ratings.training_rankings`, `preferences.pair_records`). Answers are
1 to 6 sentences about a topic; each prompt is asked once, so the held-out set (fixed, HELD prompts) shares no
prompt with any training set. Each seed draws its own training rankings.

Two settings:
- `features` (default): the reward head alone, fitted on the frozen last-token features of the embedded
  SmolLM2-135M (what the studio's reward head reads, as in bench/active_labelling.py), full batch, the same
  optimiser and steps for both losses. Cheap enough for many seeds and sizes on a shared CPU.
- `engine`: `reward.train_reward` itself (LoRA + head) on the tests' tiny random model, both losses at the same
  steps and rankings per step (pairs: 12 pairs = 2 rankings' worth per step; Plackett-Luce: 2 rankings).

    OMP_NUM_THREADS=1 python bench/listwise.py [--setting features|engine] [--seeds 10]
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.active_labelling import FACTS, TOPICS  # noqa: E402  (the same answers' material)
from studio.core.ratings import training_rankings  # noqa: E402
from studio.core.rules import Rule, label_with_rule  # noqa: E402
from studio.core.store import Store  # noqa: E402
from studio.training.preference_losses import bradley_terry_loss, plackett_luce_loss, ranked_pairs  # noqa: E402

K, HELD = 4, 100
LOSSES = ("pairs", "plackett_luce")


def labelled_rankings(n: int, seed: int = 0) -> list[dict]:
    """n K-way comparisons, one per prompt, ranked by the rule labeller `shorter` through a store."""
    rng = random.Random(seed)
    with Store(None) as store:
        for i in range(n):
            topic = rng.choice(TOPICS)
            prompt_id = store.add_prompt(f"Question {i}: tell me about {topic}.")
            answers = [" ".join(f.format(t=topic).capitalize() for f in rng.sample(FACTS, count))
                       for count in rng.sample(range(1, 7), K)]
            store.add_comparison(prompt_id, [store.add_response(prompt_id, a, "base") for a in answers])
        label_with_rule(store, Rule.parse("shorter"))
        return training_rankings(store)


def places_of(rankings: list[dict]) -> torch.Tensor:
    places = torch.full((len(rankings), K), -1, dtype=torch.long)
    for row, r in enumerate(rankings):
        for place, group in enumerate(r["order"]):
            places[row, group] = place
    return places


def pair_accuracy(scores: torch.Tensor, places: torch.Tensor) -> float:
    better, worse = ranked_pairs(scores, places)
    return (better > worse).float().mean().item()


def fit_head(feats: torch.Tensor, places: torch.Tensor, loss: str, steps: int = 300) -> torch.nn.Linear:
    """A linear reward head on (N, K, D) features, fitted by `loss`, full batch."""
    torch.manual_seed(0)
    head = torch.nn.Linear(feats.size(-1), 1)
    torch.nn.init.zeros_(head.weight)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    if loss == "pairs":  # the InstructGPT decomposition, as `pair_records` gives it
        n, d = feats.shape[:2]
        better = (places[:, :, None] < places[:, None, :])
        rows, i, j = better.nonzero(as_tuple=True)
        weights = 1.0 / better.sum((1, 2)).float()[rows]
        weights = weights / weights.mean()
    for _ in range(steps):
        opt.zero_grad()
        scores = head(feats).squeeze(-1)
        if loss == "pairs":
            value = bradley_terry_loss(scores[rows, i], scores[rows, j], weights)
        else:
            value = plackett_luce_loss(scores, places)
        value.backward()
        opt.step()
    return head


def features_setting(args, rankings: list[dict]) -> list[dict]:
    from studio.training.models import load_model
    from studio.training.reward import RewardScorer
    from studio.training.shared_base import SharedBase
    from studio.training.uncertainty import features

    started = time.time()
    scorer = RewardScorer(SharedBase.from_loaded(load_model("embedded", device="cpu")), None, None, max_length=128)
    flat = features(scorer, [r["prompt"] for r in rankings for _ in range(K)],
                    [a for r in rankings for a in r["responses"]], batch_size=16)
    flat = (flat - flat.mean(0)) / (flat.std(0) + 1e-6)
    feats, places = flat.view(len(rankings), K, -1), places_of(rankings)
    print(f"features of {len(flat)} answers: {time.time() - started:.0f} s", flush=True)
    held, pool = torch.arange(HELD), list(range(HELD, len(rankings)))
    rows = []
    for seed in range(args.seeds):
        order = random.Random(seed).sample(pool, len(pool))
        for n in args.sizes:
            train = torch.tensor(order[:n])
            for loss in LOSSES:
                head = fit_head(feats[train], places[train], loss)
                with torch.no_grad():
                    acc = pair_accuracy(head(feats[held]).squeeze(-1), places[held])
                rows.append({"setting": "features", "seed": seed, "rankings": n, "loss": loss, "accuracy": acc})
        print(f"seed {seed} done ({time.time() - started:.0f} s)", flush=True)
    return rows


def engine_setting(args, rankings: list[dict]) -> list[dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.training.configs import RewardConfig
    from studio.training.heads import ScalarHead, load_heads
    from studio.training.reward import ADAPTER, HEAD, RewardScorer, train_reward
    from studio.training.shared_base import SharedBase
    from tests.tiny_model import make_tiny_model_dir

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="listwise-"))
    model_dir = make_tiny_model_dir(tmp / "tiny")
    held, pool = rankings[:HELD], rankings[HELD:]
    held_places = places_of(held)
    rows = []
    for seed in range(args.seeds):
        train = random.Random(seed).sample(pool, max(args.sizes))
        for n in args.sizes:
            for loss in LOSSES:
                base = SharedBase(AutoModelForCausalLM.from_pretrained(model_dir).eval(),
                                  AutoTokenizer.from_pretrained(model_dir), source=str(model_dir))
                config = RewardConfig(ranking_loss=loss, epochs=args.epochs, batch_size=12 if loss == "pairs" else 2,
                                      lr=1e-3, max_length=160, lora_r=8, lora_alpha=16, eval_fraction=0.0,
                                      warmup_steps=2, seed=seed, checkpoint_every=10**6)
                run_dir = tmp / f"{seed}-{n}-{loss}"
                started = time.time()
                result = train_reward(base, train[:n], config, run_dir)  # pairs: decomposed inside
                head = ScalarHead(base.hidden_size)
                load_heads({HEAD: head}, run_dir / "heads.safetensors")
                scorer = RewardScorer(base, ADAPTER, head)
                scores = scorer([r["prompt"] for r in held for _ in range(K)],
                                [a for r in held for a in r["responses"]]).view(HELD, K)
                rows.append({"setting": "engine", "seed": seed, "rankings": n, "loss": loss,
                             "accuracy": pair_accuracy(scores, held_places), "steps": result.step,
                             "seconds": round(time.time() - started, 1)})
                print(rows[-1], flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Mean (std over seeds) held-out pair accuracy per size and loss, as a Markdown table."""
    sizes = sorted({r["rankings"] for r in rows})
    lines = ["| rankings | pairs | plackett_luce | PL - pairs (wins/seeds) |", "|---|---|---|---|"]
    for n in sizes:
        acc = {loss: [r["accuracy"] for r in rows if r["rankings"] == n and r["loss"] == loss] for loss in LOSSES}
        diffs = [b - a for a, b in zip(acc["pairs"], acc["plackett_luce"])]
        spread = {loss: statistics.pstdev(v) if len(v) > 1 else 0.0 for loss, v in acc.items()}
        lines.append(f"| {n} | {statistics.mean(acc['pairs']):.3f} ({spread['pairs']:.3f}) | "
                     f"{statistics.mean(acc['plackett_luce']):.3f} ({spread['plackett_luce']:.3f}) | "
                     f"{statistics.mean(diffs):+.3f} ({sum(d > 0 for d in diffs)}/{len(diffs)}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=["features", "engine"], default="features")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    parser.add_argument("--epochs", type=float, default=4.0, help="engine setting: passes over the rankings")
    parser.add_argument("--csv", type=Path, default=None, help="where the rows go (bench/out/listwise_SETTING.csv)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rankings = labelled_rankings(HELD + max(args.sizes) if args.setting == "engine" else HELD + 400)
    strict = sum(len(r["order"]) == K for r in rankings) / len(rankings)
    print(f"{len(rankings)} rankings, {strict:.0%} strict (no tie)", flush=True)
    rows = (features_setting if args.setting == "features" else engine_setting)(args, rankings)
    out = args.csv or ROOT / "bench" / "out" / f"listwise_{args.setting}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
