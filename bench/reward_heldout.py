"""How well a reward model trained on bench/rounds.py's labels ranks held-out answers (issue 26, section 3): the
ceiling a rule's RL win rate runs into, measured in minutes instead of a PPO run per setting.

The seeded project of bench/rounds.py (its SFT run and first comparisons, `rounds.seed`) is copied; the first
`--comparisons` comparisons are labelled by the rule as rounds.py labels them (`--answers K` > 2: fresh comparisons
of K SFT answers per prompt instead, so that "rank 4 at a time" can be set against "rank 2" at the same number of
answers read); the reward model is trained at its defaults or with `--set KEY=VALUE`. Held out: pairs of (a final
policy's answer, SFT's answer) on rounds.HELD_OUT from every stored rounds result (`--results`), where the rule
prefers one, `--pairs` of them drawn with a fixed seed: the answers RL wrote, which is where the reward model has to
be right. Reported: pair accuracy (ties half) of the run's own head, of the ensemble's lower bound (penalty 1), and
of that bound with the labels' reach applied (`core.reach`), as PPO scores with the bench's best setting.

    .venv/bin/python bench/reward_heldout.py --rules wordy simple [--seed-project DIR] [--answers 4 --comparisons 30]
        [--set lr=3e-5] [--threads 1]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rounds  # noqa: E402
from studio.cli.train import apply_settings  # noqa: E402
from studio.core.project import Project  # noqa: E402
from studio.training import runs  # noqa: E402
from studio.training.configs import RewardConfig  # noqa: E402
from studio.training.uncertainty import OnlineReward  # noqa: E402

BENCH = Path(__file__).resolve().parent


def heldout_pairs(rule: str, results: list[Path], sft_answers: list[str], limit: int) -> list[tuple[str, str, str]]:
    """(prompt, preferred, other) for every stored final answer the rule ranks apart from SFT's on its prompt,
    `limit` of them drawn with a fixed seed."""
    measure = rounds.RULES[rule][0]
    pairs = []
    for path in results:
        for row in json.loads(path.read_text()).values():
            for prompt, answer, sft in zip(rounds.HELD_OUT, row["answers"], sft_answers):
                a, s = measure(prompt, answer), measure(prompt, sft)
                if a != s:
                    pairs.append((prompt, answer, sft) if a > s else (prompt, sft, answer))
    random.Random(0).shuffle(pairs)
    return pairs[:limit]


def accuracy(values: torch.Tensor, rows: dict[tuple[str, str], int], pairs: list[tuple[str, str, str]]) -> float:
    """Share of `pairs` whose preferred answer scores higher (ties half), `values` indexed through `rows`."""
    better = values[[rows[(p, a)] for p, a, _ in pairs]]
    worse = values[[rows[(p, b)] for p, _, b in pairs]]
    return round(((better > worse).float() + 0.5 * (better == worse).float()).mean().item(), 3)


def one_rule(seed_dir: Path, work: Path, rule: str, answers: int, comparisons: int, config: RewardConfig,
             pairs: list[tuple[str, str, str]]) -> dict:
    """Label, train the reward model and score the held-out pairs in a copy of the seeded project."""
    folder = work / f"{rule}-k{answers}-n{comparisons}"
    shutil.copytree(seed_dir, folder)
    project = Project.open(folder)
    store = project.store
    base = runs.open_base(project, device="cpu")
    if answers != 2:  # the seed's comparisons of 2 make way for K answers per prompt from the same SFT run
        with store.transaction():
            store.db.execute("DELETE FROM comparisons")
            store.db.execute("DELETE FROM responses")
        sft_id = min(r.id for r in store.runs() if r.kind == "sft")
        runs.generate_comparisons(project, base, answers, policy=str(sft_id))
    ids = [c.id for c in store.comparisons()][:comparisons]
    ranked = rounds.label(store, ids, rule)
    t0 = time.perf_counter()
    run_id, _ = runs.train(project, base, "reward", config)
    wall = time.perf_counter() - t0
    reward = OnlineReward.load(base, project.run_dir(run_id))
    texts = list(dict.fromkeys((p, t) for p, a, b in pairs for t in (a, b)))
    rows = {text: i for i, text in enumerate(texts)}
    with torch.no_grad():
        raw, feats = reward.scorer.scores_and_features([p for p, _ in texts], [t for _, t in texts])
    head = reward.scorer.normalise(raw).float()
    bound = reward.ensemble.lower_bound(feats, 1.0)[0].float() if reward.ensemble else head
    out = {"rule": rule, "answers": answers, "comparisons": comparisons, "ranked": ranked,
           "set": {k: v for k, v in dataclasses.asdict(config).items() if v != getattr(RewardConfig(), k)},
           "pairs": len(pairs), "reward_s": round(wall), "head": accuracy(head, rows, pairs),
           "lower_bound": accuracy(bound, rows, pairs)}
    if reward.reach is not None:
        floor = (reward.reach.floor - reward.scorer.mean) / reward.scorer.std
        past = torch.tensor([reward.reach.outside(t) is not None for _, t in texts])
        out["bound_in_reach"] = accuracy(torch.where(past, bound.clamp(max=floor), bound), rows, pairs)
        out["past_reach"] = round(past.float().mean().item(), 3)
    project.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", nargs="+", default=["floor", "wordy", "simple"], choices=list(rounds.RULES))
    parser.add_argument("--seed-project", type=Path, default=None,
                        help="a rounds.py seed folder to copy (default: seed a new one, ~3 minutes)")
    parser.add_argument("--answers", type=int, default=2, help="answers per comparison to label (K)")
    parser.add_argument("--comparisons", type=int, default=rounds.BUDGET, help="comparisons labelled")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="reward settings to change")
    parser.add_argument("--results", nargs="+", type=Path, default=sorted(BENCH.glob("rounds_*.json")),
                        help="rounds.py results whose final answers make the held-out pairs")
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="embedded")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = RewardConfig()
    apply_settings(config, args.set)
    work = Path(tempfile.mkdtemp(prefix="reward-heldout-"))
    seed_dir = args.seed_project or rounds.seed(work, args.model)
    sft_answers = json.loads((seed_dir / "sft_answers.json").read_text())
    for rule in args.rules:
        pairs = heldout_pairs(rule, args.results, sft_answers, args.pairs)
        print(json.dumps(one_rule(seed_dir, work, rule, args.answers, args.comparisons, config, pairs)), flush=True)


if __name__ == "__main__":
    main()
