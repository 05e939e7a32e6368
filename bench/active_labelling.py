"""Active labelling against arrival order: held-out accuracy of the reward model per label spent.

A programmatic labeller ranks pairs of answers by a rule; the reward model is retrained after every
round of ROUND more labels. "active" asks next for the comparisons the studio's queue puts first
(`studio.core.active.order_queue` on `studio.training.uncertainty` guesses: a bootstrap ensemble of
reward heads); "margin" the fallback (P(first wins) nearest 1/2, one head); "arrival" asks in the order
they came. A skipped comparison (the sparse rule has no
opinion) still costs a label: a person read it.

The reward model here is the reward head on frozen features of the embedded SmolLM2-135M (last-token
hidden state of prompt + answer, as the studio's reward model scores), refitted per round; retraining
the LoRA trunk per round (3 seeds x 2 rules x 2 orders x 15 rounds) would take hours on the 2 shared
cores. Answers are built from sentence pieces so that each rule has a known truth; one set of 500
comparisons, each seed drawing its own labelling pool, held-out set, arrival order and first labels.

Rules: "concise" (dense: prefers the answer with fewer sentences; skips equal lengths) and
"no-apology" (sparse: has an opinion only when exactly one answer apologises, preferring the other;
skips the rest, about a third of the pairs).

    QT_QPA_PLATFORM=offscreen python bench/active_labelling.py [--threads 1] [--pool 400]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.core.active import order_queue  # noqa: E402
from studio.core.records import Comparison  # noqa: E402
from studio.training.models import load_model  # noqa: E402
from studio.training.reward import RewardScorer  # noqa: E402
from studio.training.shared_base import SharedBase  # noqa: E402
from studio.training.uncertainty import features, fit_heads, guesses_from  # noqa: E402

TOPICS = ["the sea", "bread", "trains", "volcanoes", "bees", "chess", "winter", "music", "maps", "tea",
          "forests", "bridges", "comets", "gardens", "rivers", "clocks", "owls", "paper", "salt", "glass"]
FACTS = ["{t} has a long history.", "Many people enjoy learning about {t}.", "There are several kinds of {t}.",
         "Scientists still study {t} today.", "{t} changes with the seasons.", "You can read books about {t}.",
         "Some places are famous for {t}.", "{t} can be surprising up close."]
APOLOGIES = ["I'm sorry, but I am not sure about this.", "Sorry, I may be wrong here.",
             "I apologise, I cannot be certain."]
ROUND, START, ROUNDS = 10, 10, 15
ORDERS = ("active", "margin", "arrival")  # active: the studio's queue; margin: P(first) nearest 1/2 only


def make_data(n: int, seed: int) -> list[dict]:
    """n comparisons (prompt, two answers, their sentence counts and apologies)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topic = rng.choice(TOPICS)
        answers, meta = [], []
        for _ in range(2):
            k = rng.randint(1, 4)
            sentences = [f.format(t=topic).capitalize() for f in rng.sample(FACTS, k)]
            sorry = rng.random() < 0.2
            if sorry:
                sentences.insert(rng.randrange(k + 1), rng.choice(APOLOGIES))
            answers.append(" ".join(sentences))
            meta.append((k, sorry))
        rows.append({"prompt": f"Tell me about {topic}.", "answers": answers, "meta": meta})
    return rows


def concise(meta) -> int | None:
    """Index of the preferred answer, or None (skip)."""
    (a, _), (b, _) = meta
    return None if a == b else (0 if a < b else 1)


def no_apology(meta) -> int | None:
    (_, a), (_, b) = meta
    return None if a == b else (1 if a else 0)


RULES = {"concise": concise, "no-apology": no_apology}


def fit(feats: torch.Tensor, labelled: list[tuple[int, int]], seed: int) -> torch.Tensor:
    """The bootstrap heads on (comparison, preferred answer) labels; features (N, 2, D)."""
    chosen = torch.stack([feats[i, w] for i, w in labelled])
    rejected = torch.stack([feats[i, 1 - w] for i, w in labelled])
    return fit_heads(chosen, rejected, torch.ones(len(labelled)), torch.zeros(feats.size(-1)), seed=seed)


def accuracy(heads: torch.Tensor, feats: torch.Tensor, truth: list[tuple[int, int]]) -> float:
    mean = heads.mean(0)
    scores = feats @ mean                                   # (N, 2)
    return sum(int(scores[i, 0] < scores[i, 1]) == w for i, w in truth) / len(truth)


def run(feats: torch.Tensor, data: list[dict], rule, order: str, seed: int, pool_n: int, noise: float
        ) -> list[tuple[int, float]]:
    """Labels spent -> held-out accuracy (against the rule itself), for one rule, order and seed; the
    labeller flips a `noise` share of its decisions, as a tired person does."""
    rng = random.Random(seed)
    flips = random.Random(seed + 1000)
    idx = list(range(len(data)))
    rng.shuffle(idx)
    pool, test = idx[:pool_n], idx[pool_n:]
    truth = [(i, w) for i in test if (w := rule(data[i]["meta"])) is not None]
    asked, labelled, curve = [], [], []

    def ask(ids: list[int]) -> None:
        for i in ids:
            asked.append(i)
            w = rule(data[i]["meta"])
            if w is not None:
                labelled.append((i, 1 - w if flips.random() < noise else w))

    ask(pool[:START])
    for r in range(ROUNDS):
        heads = fit(feats, labelled, seed + r) if labelled else torch.zeros(5, feats.size(-1))
        curve.append((len(asked), accuracy(heads, feats, truth)))
        seen = set(asked)
        left = [i for i in pool if i not in seen]
        if order == "arrival":
            ask(left[:ROUND])
            continue
        if order == "margin":
            heads = heads.mean(0, keepdim=True)
        guesses = guesses_from(heads, [feats[i] for i in left], left, 0, "margin" if order == "margin" else "bootstrap")
        comparisons = [Comparison(i, 0, "", [0, 1], ["", ""], "") for i in left]
        ranked = order_queue(comparisons, {g.comparison_id: g for g in guesses}, "uncertain")
        ask([c.id for c in ranked[:ROUND]])
    return curve


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((n for n, acc in curve if acc >= target - 1e-9), None)


def plot(results: dict, path: Path) -> None:
    import pyqtgraph as pg
    from pyqtgraph.exporters import ImageExporter
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    pg.setConfigOption("background", "w")
    pg.setConfigOption("foreground", "k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(1200, 460)
    colours = {"active": (200, 60, 30), "margin": (120, 120, 120), "arrival": (40, 90, 200)}
    for rule, by_order in results.items():
        plot_item = layout.addPlot(title=f"rule: {rule}")
        plot_item.setLabel("bottom", "labels spent (skips included)")
        plot_item.setLabel("left", "held-out accuracy")
        plot_item.addLegend(offset=(-10, -10))
        for order, curves in by_order.items():
            xs = [n for n, _ in curves[0]]
            mean = [sum(c[k][1] for c in curves) / len(curves) for k in range(len(xs))]
            plot_item.plot(xs, mean, pen=pg.mkPen(colours[order], width=2), symbol="o", symbolSize=5,
                           symbolBrush=colours[order], name=f"{order} (mean of {len(curves)} seeds)")
    layout.show()
    QApplication.processEvents()
    exporter = ImageExporter(layout.scene())
    exporter.export(str(path))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pool", type=int, default=350, help="comparisons to label from")
    ap.add_argument("--test", type=int, default=150, help="held-out comparisons")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.0, help="share of the labeller's decisions flipped")
    ap.add_argument("--out", default=str(ROOT / "bench" / "active_labelling.png"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    # one set of answers (features computed once); each seed draws its own pool/held-out split and order
    data = make_data(args.pool + args.test, 0)
    cache = ROOT / "bench" / "out" / f"active_labelling_features_{len(data)}.safetensors"
    if cache.exists():
        flat = load_file(str(cache))["features"]
    else:
        scorer = RewardScorer(SharedBase.from_loaded(load_model("embedded", device="cpu")), None, None,
                              max_length=128)
        flat = features(scorer, [d["prompt"] for d in data for _ in range(2)],
                        [a for d in data for a in d["answers"]], batch_size=16)
        cache.parent.mkdir(exist_ok=True)
        save_file({"features": flat.contiguous()}, str(cache))
    flat = (flat - flat.mean(0)) / (flat.std(0) + 1e-6)   # unsupervised scaling of the features
    feats = flat.view(len(data), 2, -1)
    print(f"features of {2 * len(data)} answers: {time.time() - started:.0f} s", flush=True)
    results: dict = {}
    summary = {}
    for rule_name, rule in RULES.items():
        results[rule_name] = {order: [] for order in ORDERS}
        for seed in range(args.seeds):
            for order in ORDERS:
                results[rule_name][order].append(run(feats, data, rule, order, seed, args.pool, args.noise))
        mean = {o: [sum(c[k][1] for c in cs) / len(cs) for k in range(ROUNDS)]
                for o, cs in results[rule_name].items()}
        xs = [n for n, _ in results[rule_name]["arrival"][0]]
        target = mean["arrival"][-1]
        need = labels_to_reach(list(zip(xs, mean["active"])), target)
        margin_need = labels_to_reach(list(zip(xs, mean["margin"])), target)
        summary[rule_name] = {"labels": xs, **{o: [round(a, 3) for a in mean[o]] for o in ORDERS},
                              "arrival_final": round(target, 3), "active_labels_to_reach": need,
                              "ratio": None if need is None else round(need / xs[-1], 3),
                              "margin_ratio": None if margin_need is None else round(margin_need / xs[-1], 3)}
        print(json.dumps({rule_name: summary[rule_name]}), flush=True)
    plot(results, Path(args.out))
    print(json.dumps({"seconds": round(time.time() - started, 1), "threads": args.threads, "noise": args.noise,
                      "plot": args.out}))


if __name__ == "__main__":
    main()
