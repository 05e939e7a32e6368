"""Soak: kill -9 the ranking writer, the real window and every trainer many times at random moments.

    .venv/bin/python bench/soak_kills.py --kills 40 --gui-kills 20 --trainer-kills 10   # 130 kills
    .venv/bin/python bench/soak_kills.py --kills 0 --gui-kills 0 --pack-kills 0 --pack-rate-kills 0 --trainers rloo,kto

Each ranking kill: a child ranks comparisons one by one and prints each ranking once `add_ranking`
returned; it is SIGKILLed after a random number of them; then the database must pass
`PRAGMA integrity_check` and hold every acknowledged ranking. Pack kills do the same in a labelling
pack, ranking (`--pack-kills`) or rating its answers as the pack window's Rate page does
(`--pack-rate-kills`, each rating acknowledged once `Ratings.add` returned). Each window kill: the same with the real
MainWindow (offscreen) ranking on its Rank page with key presses (tests/gui_ranker.py), its model
loading in the background meanwhile. Each trainer kill: `python -m studio train`
on a tiny random model (sft and reward side by side, then dpo and ppo, then rloo and kto; `--trainers`
picks some, and the runs the others start from are then trained once without a kill), SIGKILLed after
a random checkpoint, then `--resume RUN_ID` must finish at the requested step, with every step's metrics and
without training the checkpointed steps again. `--tear-fraction` of the killed runs are also left as a
kill between a checkpoint save's two renames would leave them. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gui_kill_harness import kill_window_while_ranking  # noqa: E402
from tests.kill_harness import (ROOT, TRAIN_SETTINGS, RankingKill, TrainKill, add_comparisons,  # noqa: E402
                                child_env, kill_and_resume, kill_while_ranking, seed_project, studio_command)

# The first wave runs --steps, the later ones two thirds of it.
KIND_WAVES = [["sft", "reward"], ["dpo", "ppo"], ["rloo", "kto"]]
NEEDS = {"dpo": ["sft"], "ppo": ["sft", "reward"], "rloo": ["sft", "reward"], "kto": ["sft"]}  # runs they start from
KINDS = [kind for wave in KIND_WAVES for kind in wave]


def soak_rankings(root: Path, kills: int, rng: random.Random, pack: bool = False, rate: bool = False
                  ) -> list[RankingKill]:
    """Kill ranking writers on a project's store, or (`pack`) on a labelling pack exported from it, or
    (`rate`) rating writers on such a pack."""
    seed_project(root, model="embedded", comparisons=0)
    db = root / "studio.db"
    add_comparisons(db, 1000)
    if pack or rate:
        from studio.core.packs import export_pack
        from studio.core.store import Store

        with Store(db) as store:
            export_pack(store, root / "todo.pack")
        db = root / "todo.pack"
    return _repeat("pack rating" if rate else "pack" if pack else "ranking", kills,
                   lambda i: kill_while_ranking(db, f"soak{i}", rng, max_acks=200, pack=pack, rate=rate))


def soak_window(root: Path, model: Path, kills: int, rng: random.Random) -> list[RankingKill]:
    project = seed_project(root, model, comparisons=0).root
    add_comparisons(project / "studio.db", 60 * kills + 100)
    return _repeat("window", kills, lambda i: kill_window_while_ranking(project, f"window{i}", rng, max_acks=60))


def _repeat(victim: str, kills: int, kill: Callable[[int], RankingKill]) -> list[RankingKill]:
    results = []
    for i in range(kills):
        results.append(r := kill(i))
        print(f"  {victim} kill {i + 1}/{kills}: {r.acknowledged} acknowledged, lost {r.lost}, "
              f"integrity {r.integrity}", file=sys.stderr, flush=True)
    return results


def soak_trainers(root: Path, model: Path, kinds: list[str], rounds: int, steps: int, tear_fraction: float,
                  rng: random.Random) -> list[tuple[TrainKill, bool]]:
    project = seed_project(root, model, ratings=True).root
    logs = root / "logs"
    logs.mkdir()
    for kind in KINDS:  # the runs the chosen kinds start from, when they are not soaked themselves
        if kind not in kinds and any(kind in NEEDS.get(k, []) for k in kinds):
            done = subprocess.run(studio_command("train", kind, project, "--steps", 2, "--device", "cpu",
                                                 *TRAIN_SETTINGS[kind]),
                                  cwd=ROOT, env=child_env(), capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"train {kind} (needed by {','.join(kinds)}) failed:\n{done.stderr[-3000:]}")
    waves = [(i, [k for k in wave if k in kinds]) for i, wave in enumerate(KIND_WAVES)]
    results = []
    for i in range(rounds):
        for wave, chosen in waves:
            if not chosen:
                continue
            torn = {kind for kind in chosen if rng.random() < tear_fraction}
            wave_steps = steps if wave == 0 else max(4, steps * 2 // 3)
            for r in kill_and_resume(project, chosen, wave_steps, rng, logs, tear=torn):
                results.append((r, r.kind in torn))
                print(f"  round {i + 1}/{rounds} {r.kind}: killed after checkpoint {r.checkpoint_step}/{r.steps}"
                      f"{' (torn)' if r.kind in torn else ''}, resumed -> {r.final_status} at {r.final_step}",
                      file=sys.stderr, flush=True)
    return results


def table(rankings: list[RankingKill], window: list[RankingKill], trainers: list[tuple[TrainKill, bool]]) -> str:
    rows = ["| victim | kills tried | survived | integrity ok | acknowledged rankings lost | "
            "resumes reaching the final step | torn checkpoints resumed |",
            "|---|---|---|---|---|---|---|"]
    for name, kills in (("ranking writer", rankings), ("window (Rank page, offscreen)", window)):
        if kills:
            rows.append(f"| {name} | {len(kills)} | {sum(r.survived for r in kills)} | "
                        f"{sum(r.integrity == 'ok' for r in kills)} | {sum(r.lost for r in kills)} "
                        f"(of {sum(r.acknowledged for r in kills)} acknowledged) | - | - |")
    for kind in KINDS:
        mine = [(r, torn) for r, torn in trainers if r.kind == kind]
        if not mine:
            continue
        reached = sum(r.final_status == "finished" and r.final_step == r.steps for r, _ in mine)
        torn = [r for r, t in mine if t]
        rows.append(f"| train {kind} | {len(mine)} | {sum(r.survived for r, _ in mine)} | - | - | "
                    f"{reached}/{len(mine)} | {sum(r.survived for r in torn)}/{len(torn)} |")
    return "\n".join(rows)


def trainer_list(text: str) -> list[str]:
    """`--trainers rloo,kto` as a list of known trainer kinds."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"choose from {','.join(KINDS)} (got {text!r})")
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=40, help="ranking-writer kills")
    parser.add_argument("--gui-kills", type=int, default=20, help="kills of the window while it ranks")
    parser.add_argument("--pack-kills", type=int, default=10, help="kills of a ranking writer on a labelling pack")
    parser.add_argument("--pack-rate-kills", type=int, default=10, help="kills of a rating writer on a labelling pack")
    parser.add_argument("--trainer-kills", type=int, default=10, help="kills per trainer")
    parser.add_argument("--trainers", type=trainer_list, default=KINDS,
                        help=f"the trainers to kill, comma-separated (default all: {','.join(KINDS)})")
    parser.add_argument("--steps", type=int, default=12,
                        help="steps per sft/reward run (dpo, ppo, rloo, kto: two thirds)")
    parser.add_argument("--tear-fraction", type=float, default=0.25,
                        help="share of killed runs also left mid checkpoint rename")
    parser.add_argument("--seed", type=int, default=None, help="replay the random kill points")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        from tests.tiny_model import make_tiny_model_dir

        model = make_tiny_model_dir(work / "model")
        rankings = soak_rankings(work / "ranking", args.kills, rng)
        window = soak_window(work / "window", model, args.gui_kills, rng) if args.gui_kills else []
        packs = soak_rankings(work / "pack", args.pack_kills, rng, pack=True) if args.pack_kills else []
        rated = soak_rankings(work / "rate", args.pack_rate_kills, rng, rate=True) if args.pack_rate_kills else []
        trainers = []
        if args.trainer_kills:
            trainers = soak_trainers(work / "training", model, args.trainers, args.trainer_kills, args.steps,
                                     args.tear_fraction, rng)
        elapsed = time.perf_counter() - start
    print(table(rankings, window, trainers))
    if packs:
        print(f"\nlabelling pack: {len(packs)} kills, {sum(r.survived for r in packs)} survived, "
              f"{sum(r.acknowledged for r in packs)} acknowledged rankings, {sum(r.lost for r in packs)} lost")
    if rated:
        print(f"\nrating in a labelling pack: {len(rated)} kills, {sum(r.survived for r in rated)} survived, "
              f"{sum(r.acknowledged for r in rated)} acknowledged ratings, {sum(r.lost for r in rated)} lost")
    rankings = rankings + packs + rated
    print(f"\nseed {seed}, {elapsed:.0f} s")
    lost = sum(r.lost for r in rankings + window)
    failed = [r for r in rankings + window if not r.survived] + [r for r, _ in trainers if not r.survived]
    for r, _ in trainers:
        if not r.survived:
            print(f"\n{r.kind} run {r.run_id} did not survive:\n{r.log}", file=sys.stderr)
    return 1 if lost or failed else 0


if __name__ == "__main__":
    sys.exit(main())
