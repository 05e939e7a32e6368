"""Rounds against one round at a fixed label budget (issue 26, section 3): 60 comparisons labelled once, against
two rounds of 30 (the second round's comparisons sampled by `training.rounds.prepare_round`: half the policy's
answers, half its start's, with the gold checks counted in the budget), each with and without the conservative
reward (`uncertainty_penalty`; without it, the round after a first run that raised alarms turns it on, as the
product's round does: `core.rounds.round_penalty`, kept as "round_penalty"), and with the penalty and
`stay_in_reach` (settings `*-reach`: answers past the labels' reach score as the reward model's lowest training
score, `core.reach`; the other settings turn it off, as they ran before it existed). The RL budget is fixed too: two
rounds run half the PPO iterations each (10 + 10 against 20), so the second round costs its labels, a warm reward
run and the round's sampling, not a second run.

Rules of my choosing, each a programmatic person (annotator "bench", so the gold win rate counts them):
- floor (dense, with a floor the labels never cross): the shorter answer wins, but an answer under 6 words loses to
  any of 6 words or more;
- wordy (sparse): the larger share of words of 7+ letters wins where the answers differ clearly (the top third of
  differences); the rest are skipped, so it prefers one answer in about a third of comparisons;
- topical: the answer sharing more content words with its prompt wins (`answer_quality.content_stems`); ties skipped
  (saturated on this model: 51 of 60 held-out answers tie with SFT's, so its win rate cannot pass about 0.57);
- detailed: the answer with more distinct content words wins (`content_stems`), a taste with room above SFT (it
  prizes lists of words: its best policies were 43-83% degenerate, RESULTS section 33);
- plain (dense, wordy's opposite, with a floor): the larger share of short words (5 letters or fewer) wins, but an
  answer under 6 words loses to any of 6 or more;
- simple: plain as a person would rank it: also an answer that loops (`answer_quality.repeats_itself`) loses to any
  that does not (plain's best policies looped: repeating short words raises their share, RESULTS section 35).

Reported per rule and setting: held-out win rate of the final policy against the starting (SFT) policy by the rule
(ties half), the fraction of degenerate held-out answers (`core.rounds.degenerate`: empty, under 3 words, repeated
n-grams, non-words), final KL against its target, and wall time. SFT and the first comparisons are made once and
copied into each setting's project. Held out: the 60 prompts of `pipeline.PROMPTS` after the training ones (20
topics no stage sees); `--evaluate FOLDER...` evaluates kept settings' projects (under the rounds- temporary folder)
again on them.

    .venv/bin/python bench/rounds.py --threads 2 [--rules floor wordy detailed topical] [--seeds N] [--settings one two-conservative] [--rl-budget N] [--seed-project DIR] [--model embedded] [--out FILE]
    .venv/bin/python bench/rounds.py --summarise FILE... [--plot PNG]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import DEMOS, PROMPTS, TRAIN_PROMPTS  # noqa: E402
from studio.core import import_export as io  # noqa: E402
from studio.core.answer_quality import content_stems, repeats_itself, words  # noqa: E402
from studio.core.jsonl import write_jsonl  # noqa: E402
from studio.core.project import Project  # noqa: E402
from studio.core.rounds import degenerate  # noqa: E402
from studio.training import rounds, runs  # noqa: E402
from studio.training.online_configs import PPOConfig  # noqa: E402

BUDGET = 60
SETTINGS = {"one": (False, False, False), "one-conservative": (False, True, False),  # two rounds? penalty? reach?
            "two": (True, False, False), "two-conservative": (True, True, False),
            "one-conservative-reach": (False, True, True), "two-conservative-reach": (True, True, True)}
ANNOTATOR = "bench"
HELD_OUT = PROMPTS[len(TRAIN_PROMPTS):]  # 60 prompts on 20 topics no stage trains on (pipeline's 12 among them)


def floor(prompt: str, text: str) -> float:
    n = len(words(text))
    return -n if n >= 6 else -1000.0 + n


def wordy(prompt: str, text: str) -> float:
    found = re.findall(r"[A-Za-z]+", text)
    return sum(len(w) >= 7 for w in found) / max(len(found), 1)


def topical(prompt: str, text: str) -> float:
    return float(len(content_stems(prompt) & content_stems(text)))


def detailed(prompt: str, text: str) -> float:
    return float(len(content_stems(text)))


def plain(prompt: str, text: str) -> float:
    found = words(text)
    share = sum(len(w) <= 5 for w in found) / max(len(found), 1)
    return share if len(found) >= 6 else -1.0 + len(found) / 6


def simple(prompt: str, text: str) -> float:
    return plain(prompt, text) - 2.0 * repeats_itself(text)  # a loop loses to any answer that does not loop


RULES = {"floor": (floor, 0.0), "wordy": (wordy, 2 / 3), "topical": (topical, 0.0),  # rule, share skipped
         "detailed": (detailed, 0.0), "plain": (plain, 0.0), "simple": (simple, 0.0)}


def label(store, comparison_ids: list[int], rule: str) -> int:
    """Rank `comparison_ids` by `rule` (best first, equal scores tied; the sparse rule skips its unclear share);
    returns how many were ranked."""
    measure, skip_share = RULES[rule]
    scored = []
    for cid in comparison_ids:
        c = store.comparison(cid)
        scored.append((cid, [measure(c.prompt, t) for t in c.responses]))
    spreads = sorted(max(s) - min(s) for _, s in scored)
    threshold = spreads[int(skip_share * len(spreads))] if skip_share and spreads else 0.0
    ranked = 0
    for cid, scores in scored:
        if max(scores) - min(scores) <= threshold:
            store.add_ranking(cid, [], ANNOTATOR, status="skip")
            continue
        levels = sorted(set(scores), reverse=True)
        store.add_ranking(cid, [[i for i, s in enumerate(scores) if s == level] for level in levels], ANNOTATOR)
        ranked += 1
    return ranked


def evaluate(project: Project, base, policy: str, sft_answers: list[str], rule: str) -> dict:
    """Held-out win rate against the SFT answers by the rule (ties half), the share of degenerate answers, and the
    answers themselves (in HELD_OUT's order), so that another degenerate criterion can be applied to them later."""
    answers = runs.sample(project, base, policy, HELD_OUT)
    measure = RULES[rule][0]
    wins = [1.0 if measure(q, a) > measure(q, s) else 0.5 if measure(q, a) == measure(q, s) else 0.0
            for q, a, s in zip(HELD_OUT, answers, sft_answers)]
    return {"win_rate": statistics.fmean(wins), "degenerate": statistics.fmean(map(degenerate, answers)),
            "answers": answers}


def last_online_run(project: Project) -> str:
    """The latest finished online run of the project: the policy a setting ends with."""
    return str(max(r.id for r in project.store.runs() if r.kind == "ppo" and r.status == "finished"))


def reevaluate(folders: list[Path]) -> dict:
    """Each kept setting's project (`rule-one|two-penalty[/seedN]` under a rounds- folder) evaluated again on
    HELD_OUT: its last PPO run against the SFT run's answers, sampled once per rounds- folder."""
    results: dict[str, dict] = {}
    sft: dict[Path, list[str]] = {}
    for folder in folders:
        project = Project.open(folder)
        base = runs.open_base(project, device="cpu")
        setting = folder if "-" in folder.name else folder.parent
        if setting.parent not in sft:
            first = min(r.id for r in project.store.runs() if r.kind == "sft")
            sft[setting.parent] = runs.sample(project, base, str(first), HELD_OUT)
        name = str(folder.relative_to(setting.parent))
        rule = setting.name.split("-")[0]
        results[name] = evaluate(project, base, last_online_run(project), sft[setting.parent], rule)
        project.close()
        print(json.dumps({name: results[name]}), flush=True)
    return results


def folder_name(rule: str, two_rounds: bool, penalty: float, seed: int, reach: bool = False) -> str:
    """Where a setting's project lives under the rounds- folder (`RULE-one|two-PENALTY[-reach]/seedN`), kept with
    its results so that bench/alarm_rates.py finds a project's held-out answers by it."""
    return f"{rule}-{'two' if two_rounds else 'one'}-{penalty}{'-reach' if reach else ''}/seed{seed}"


def one_setting(seed_dir: Path, work: Path, rule: str, two_rounds: bool, penalty: float, seed: int = 0,
                reach: bool = False, budget: int | None = None) -> dict:
    """One rule and setting in a copy of the seeded project, its RL runs seeded with `seed`, with or without
    `stay_in_reach`, with `budget` PPO iterations in all (default: PPOConfig's); returns its numbers."""
    budget = budget or PPOConfig().iterations
    name = folder_name(rule, two_rounds, penalty, seed, reach) + ("" if budget == PPOConfig().iterations
                                                                  else f"-rl{budget}")
    folder = work / name
    shutil.copytree(seed_dir, folder)
    project = Project.open(folder)
    store, t0 = project.store, time.perf_counter()
    base = runs.open_base(project, device="cpu")
    first = [c.id for c in store.comparisons()][:BUDGET // 2 if two_rounds else BUDGET]
    label(store, first, rule)
    # the same RL budget either way: two rounds of 30 labels run half the PPO iterations each
    iterations = budget // (2 if two_rounds else 1)
    ppo = dataclasses.replace(PPOConfig(), uncertainty_penalty=penalty, iterations=iterations, seed=seed,
                              stay_in_reach=reach)
    runs.train(project, base, "reward")
    ppo_id, result = runs.train(project, base, "ppo", ppo)
    labelled = len(first)
    if two_rounds:  # the gold checks (one per answer shown of PPO's last round) count in the budget
        limit = BUDGET // 2 - min(ppo.samples_per_iteration, ppo.batch_size)
        made = rounds.prepare_round(project, base, str(ppo_id), per_prompt=2, limit=limit)
        label(store, made.gold + made.comparisons, rule)
        labelled += len(made.gold) + len(made.comparisons)
        _, _, ppo_id, result = rounds.train_round(project, base, str(ppo_id))
    last = store.run(ppo_id).config["uncertainty_penalty"]  # a round's own: cautious after alarms
    wall = time.perf_counter() - t0
    sft_answers = json.loads((seed_dir / "sft_answers.json").read_text())
    out = {"folder": name, "labelled": labelled, "round_penalty": last, "final_kl": result.metrics.get("kl"),
           "target_kl": ppo.target_kl, "wall_s": round(wall, 1),
           **evaluate(project, base, str(ppo_id), sft_answers, rule)}
    project.close()
    return out


def degenerate_share(row: dict) -> float:
    """The share of a result's kept held-out answers that are degenerate by today's criterion."""
    return statistics.fmean(map(degenerate, row["answers"]))


def summarise(results: dict[str, dict]) -> str:
    """A Markdown table of the results, seeds of a setting pooled: mean win rate (each seed's), degenerate share
    (`degenerate` applied again to the kept answers, so a changed criterion applies to old results), final KL, wall
    time."""
    pooled: dict[str, list[dict]] = {}
    for name, row in results.items():
        pooled.setdefault(name.split(" seed ")[0], []).append(row)
    lines = ["| rule and setting | seeds | win rate vs SFT: mean (each seed) | degenerate | final KL | wall s |",
             "|---|---:|---|---:|---:|---:|"]
    for name, rows in pooled.items():
        wins = [r["win_rate"] for r in rows]
        bad = statistics.fmean(map(degenerate_share, rows))
        own = float(re.search(r"penalty ([\d.]+)", name).group(1))
        turned = sum(r.get("round_penalty", own) != own for r in rows)  # rounds made cautious by alarms
        name += f" (cautious round after alarms: {turned} of {len(rows)})" if turned else ""
        lines.append(f"| {name} | {len(rows)} | {statistics.fmean(wins):.3f} ({', '.join(f'{w:.2f}' for w in wins)}) "
                     f"| {bad:.1%} | {statistics.fmean(r['final_kl'] for r in rows):.2f} | "
                     f"{statistics.fmean(r['wall_s'] for r in rows):.0f} |")
    return "\n".join(lines)


def plot(results: dict[str, dict], path: Path) -> None:
    """One panel a rule: each setting's held-out win rate against SFT (a dot a seed, a bar their mean) over its
    degenerate share (a dot a seed); the dashed line is one round at penalty 0 (the defaults
    before section 36) + 0.10, the goal."""
    import pyqtgraph as pg
    from pyqtgraph.exporters import ImageExporter
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    pg.setConfigOption("background", "w")
    pg.setConfigOption("foreground", "k")
    by_rule: dict[str, dict[str, list[dict]]] = {}
    for name, row in results.items():
        rule, setting = name.split(" seed ")[0].split(" ", 1)
        by_rule.setdefault(rule, {}).setdefault(setting, []).append(row)
    layout = pg.GraphicsLayoutWidget()
    layout.resize(480 * len(by_rule), 640)
    for column, (rule, settings) in enumerate(by_rule.items()):
        names = sorted(settings, key=lambda n: (n.startswith("two"), n))  # one round first, penalty 0 first
        ticks = [[(i, n.replace("one round of 60", "1x60").replace("two rounds of 30", "2x30")
                   .replace(" penalty ", " p").replace(" reach", " R")) for i, n in enumerate(names)]]
        for row_index, (key, label) in enumerate((("win_rate", "win rate vs SFT"), ("degenerate", "degenerate"))):
            item = layout.addPlot(row=row_index, col=column, title=rule if row_index == 0 else None)
            item.getAxis("bottom").setTicks(ticks)
            item.setLabel("left", label)
            item.getAxis("left").enableAutoSIPrefix(False)
            if key == "win_rate":
                item.setYRange(0, 1)
            for i, n in enumerate(names):
                values = [r["win_rate"] if key == "win_rate" else degenerate_share(r) for r in settings[n]]
                item.addItem(pg.BarGraphItem(x=[i], height=[statistics.fmean(values)], width=0.6,
                                             brush=(160, 190, 230)))
                item.plot([i] * len(values), values, pen=None, symbol="o", symbolSize=7, symbolBrush=(30, 60, 150))
            if key == "win_rate" and "one round of 60 penalty 0.0" in settings:
                goal = statistics.fmean(r["win_rate"] for r in settings["one round of 60 penalty 0.0"]) + 0.10
                item.addLine(y=goal, pen=pg.mkPen((200, 60, 30), width=2, style=pg.QtCore.Qt.PenStyle.DashLine))
    layout.show()
    QApplication.processEvents()
    ImageExporter(layout.scene()).export(str(path))


def seed(work: Path, model: str) -> Path:
    """A project with the demonstrations, the training prompts, an SFT run, 2 answers per prompt from it as
    comparisons, and the SFT policy's held-out answers."""
    project = Project.init(work / "seed", model=model)
    write_jsonl(work / "demos.jsonl", [{"prompt": p, "completion": c} for p, c in DEMOS])
    write_jsonl(work / "prompts.jsonl", [{"prompt": p} for p in TRAIN_PROMPTS])
    io.import_demos(project.store, work / "demos.jsonl")
    io.import_prompts(project.store, work / "prompts.jsonl")
    base = runs.open_base(project, device="cpu")
    sft_id, _ = runs.train(project, base, "sft")
    runs.generate_comparisons(project, base, 2, policy=str(sft_id))
    (project.root / "sft_answers.json").write_text(json.dumps(runs.sample(project, base, str(sft_id), HELD_OUT)))
    project.close()
    return project.root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rules", nargs="+", default=["floor", "wordy", "detailed"], choices=list(RULES))
    parser.add_argument("--penalty", type=float, default=1.0, help="uncertainty_penalty of the conservative setting")
    parser.add_argument("--seeds", type=int, default=1, help="RL seeds per setting (0, 1, ...): one run of a setting "
                        "is one trajectory, and trajectories differ by more than settings do (RESULTS section 33)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first RL seed (two copies side by side can "
                        "share a setting's seeds)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                        help="which settings to run (default all)")
    parser.add_argument("--rl-budget", type=int, default=PPOConfig().iterations,
                        help="PPO iterations in all (two rounds run half each); the default is PPOConfig's")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--seed-project", type=Path, default=None,
                        help="an earlier run's seed folder (rounds-*/seed) to copy instead of seeding a new one")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    parser.add_argument("--summarise", nargs="+", type=Path, default=None,
                        help="only print the table of earlier --out files (seeds pooled, today's degenerate criterion)")
    parser.add_argument("--plot", type=Path, default=None, help="with --summarise: also draw them to this PNG")
    parser.add_argument("--evaluate", nargs="+", type=Path, default=None,
                        help="only evaluate kept settings' project folders again on today's held-out prompts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.summarise:
        results = {k: v for f in args.summarise for k, v in json.loads(f.read_text()).items()}
        print(summarise(results))
        if args.plot:
            plot(results, args.plot)
        return
    if args.evaluate:
        results = reevaluate(args.evaluate)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))
        return
    work = Path(tempfile.mkdtemp(prefix="rounds-"))
    seed_dir = args.seed_project or seed(work, args.model)
    results: dict[str, dict] = {}
    for rule in args.rules:
        for setting in args.settings:
            two_rounds, conservative, reach = SETTINGS[setting]
            penalty = args.penalty if conservative else 0.0
            for seed_ in range(args.first_seed, args.first_seed + args.seeds):
                name = (f"{rule} {'two rounds of 30' if two_rounds else 'one round of 60'} penalty {penalty}"
                        f"{' reach' if reach else ''}"
                        f"{'' if args.rl_budget == PPOConfig().iterations else f' rl {args.rl_budget}'} seed {seed_}")
                results[name] = one_setting(seed_dir, work, rule, two_rounds, penalty, seed_, reach, args.rl_budget)
                print(json.dumps({name: results[name]}), flush=True)
    print(summarise(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
