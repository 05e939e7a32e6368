"""The whole default pipeline on the embedded model, timed: SFT, generate, rank import, reward, PPO, sample.

10 short demonstrations and 60 prompts; each prompt's 2 answers are ranked by a programmatic rule
(a stand-in for a person with a consistent taste). Every engine runs with its default settings. PPO
should move answers to 12 held-out prompts toward the rule, with its final KL within 1.5x the target.

Two rules, so no default is tuned to one taste:
- concise (dense): the shorter answer wins; every comparison gets an opinion;
- wordy (sparse): the answer with the larger share of long words (7+ letters) wins, but only where the
  two differ clearly (the top third of differences in this data set); the rest are skipped.

SFT and generation do not depend on the rule, so they run once and count in both totals; each rule's
rankings replace the previous rule's in the one project.

    .venv/bin/python bench/pipeline.py --threads 2 [--rules concise wordy]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.core import import_export as io  # noqa: E402
from studio.core.jsonl import write_jsonl  # noqa: E402
from studio.core.project import Project  # noqa: E402
from studio.training import runs  # noqa: E402
from studio.training.online_configs import PPOConfig  # noqa: E402

DEMOS = [
    ("Why is the sky blue?", "Air scatters blue sunlight more than red, so blue reaches us from every direction."),
    ("Give me one tip for learning a language.", "Practise a little every day instead of a lot once a week."),
    ("How do I make a cup of tea?", "Pour boiling water over a tea bag, wait four minutes, then remove the bag."),
    ("What is a noun?", "A noun is a word for a person, place or thing, such as 'teacher' or 'river'."),
    ("Suggest a name for a dog.", "How about Biscuit? It is short, friendly and easy to call out in a park."),
    ("Why do leaves change colour?", "In autumn trees stop making green chlorophyll, so yellow and red show."),
    ("What is 12 times 3?", "12 times 3 is 36."),
    ("How can I sleep better?", "Go to bed at the same time each night and keep screens out of the bedroom."),
    ("Name a planet with rings.", "Saturn has the most famous rings, made of ice and rock."),
    ("What does a bee do?", "A bee collects nectar and pollen from flowers and carries pollen between them."),
]
TOPICS = ["the moon", "rain", "bread", "trains", "music", "volcanoes", "chess", "coffee", "bicycles", "owls",
          "the ocean", "gardening", "maps", "clouds", "honey", "snow", "libraries", "bridges", "cats", "kites",
          "deserts", "pianos", "soap", "glaciers", "tomatoes", "lighthouses", "rivers", "wind", "candles", "maths",
          "forests", "salt", "painting", "the sun", "robots", "ants", "castles", "running", "paper", "storms"]
FORMS = ["Tell me about {}.", "Why do people like {}?", "Explain {} to a child."]
PROMPTS = [form.format(topic) for topic in TOPICS for form in FORMS]
TRAIN_PROMPTS, HELD_OUT = PROMPTS[:60], PROMPTS[60:72]


def concise(text: str) -> float:
    """Higher is better for the concise rule: minus the length in characters."""
    return -float(len(text))


def wordy(text: str) -> float:
    """Higher is better for the wordy rule: the share of words of 7 letters or more."""
    words = re.findall(r"[A-Za-z]+", text)
    return sum(len(w) >= 7 for w in words) / max(len(words), 1)


RULES = {"concise": (concise, 0.0), "wordy": (wordy, 2 / 3)}  # rule, share of comparisons skipped


def rank(store, rule: str) -> list[dict]:
    """One ranking per comparison: best first by the rule; skipped below the rule's threshold."""
    measure, skip_share = RULES[rule]
    comparisons = store.comparisons()
    diffs = []
    for c in comparisons:
        texts = store.comparison(c.id).responses
        diffs.append(measure(texts[0]) - measure(texts[1]))
    threshold = sorted(abs(d) for d in diffs)[int(skip_share * len(diffs))] if skip_share else 0.0
    lines = []
    for c, d in zip(comparisons, diffs):
        if abs(d) <= threshold and (skip_share or d == 0):
            lines.append({"comparison_id": c.id, "skip": True})
        else:
            lines.append({"comparison_id": c.id, "ranking": [0, 1] if d > 0 else [1, 0], "annotator": rule})
    return lines


def timed(stages: dict, name: str, fn):
    """Run fn, recording its wall time and this process's CPU time (with one thread, the CPU time is close to
    the wall time the stage would take on an otherwise idle machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    stages[name] = {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="pipeline-"))
    shared: dict[str, float] = {}
    project = Project.init(work / "project")
    write_jsonl(work / "demos.jsonl", [{"prompt": p, "completion": c} for p, c in DEMOS])
    write_jsonl(work / "prompts.jsonl", [{"prompt": p} for p in TRAIN_PROMPTS])
    io.import_demos(project.store, work / "demos.jsonl")
    io.import_prompts(project.store, work / "prompts.jsonl")
    base = timed(shared, "load", lambda: runs.open_base(project, device="cpu"))
    sft_id, sft = timed(shared, "sft", lambda: runs.train(project, base, "sft"))
    timed(shared, "generate", lambda: runs.generate_comparisons(project, base, 2))
    sft_answers = runs.sample(project, base, str(sft_id), HELD_OUT)
    print(json.dumps({"shared": shared, "sft_steps": sft.step}), flush=True)
    results = {"threads": args.threads, "shared_s": shared, "sft_steps": sft.step, "rules": {}}
    for rule in args.rules:
        stages: dict[str, float] = {}
        lines = rank(project.store, rule)
        ranked = sum("ranking" in line for line in lines)
        write_jsonl(work / f"{rule}.jsonl", lines)
        store = project.store
        for old in store.rankings():  # the previous rule's labels go; its runs stay, latest:reward is this rule's
            store.delete_ranking(old.id)
        proj = project
        timed(stages, "rank_import", lambda: io.import_rankings(store, work / f"{rule}.jsonl"))
        _, reward = timed(stages, "reward", lambda: runs.train(proj, base, "reward"))
        ppo_id, ppo = timed(stages, "ppo", lambda: runs.train(proj, base, "ppo"))
        ppo_answers = timed(stages, "sample", lambda: runs.sample(proj, base, str(ppo_id), HELD_OUT))
        measure = RULES[rule][0]
        total = {k: round(sum(st[k] for st in [*stages.values(), shared["sft"], shared["generate"]]), 1)
                 for k in ("wall_s", "cpu_s")}
        results["rules"][rule] = {
            "ranked": ranked, "skipped": len(lines) - ranked, "stages_s": stages, "pipeline": total,
            "reward_steps": reward.step, "reward_eval_accuracy": reward.metrics.get("eval_accuracy"),
            "ppo_final_kl": ppo.metrics.get("kl"), "target_kl": PPOConfig().target_kl,
            "ppo_kl_last_3_rounds": statistics.mean([m["value"] for m in store.metrics(ppo_id)
                                                     if m["name"] == "kl"][-3:]),
            "ppo_final_beta": ppo.metrics.get("beta"),
            "held_out_rule_sft": statistics.mean(map(measure, sft_answers)),
            "held_out_rule_ppo": statistics.mean(map(measure, ppo_answers)),
            "held_out_ppo_better": sum(measure(p) > measure(s) for p, s in zip(ppo_answers, sft_answers)),
            "held_out_ppo_worse": sum(measure(p) < measure(s) for p, s in zip(ppo_answers, sft_answers)),
            "ppo_kl_by_round": [round(m["value"], 2) for m in store.metrics(ppo_id) if m["name"] == "kl"],
            "examples": [{"prompt": q, "sft": s, "ppo": p} for q, s, p in zip(HELD_OUT[:3], sft_answers, ppo_answers)],
        }
        print(json.dumps({rule: results["rules"][rule]}), flush=True)
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
