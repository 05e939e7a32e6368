"""The hacking alarms on real runs: which fired on runs that went wrong, and which on runs that did not (issue 26,
section 4: thresholds "measured on runs that went wrong and runs that did not, reported as a false-alarm rate").

A run went wrong when at least WRONG_SHARE of the answers in its samples table over its last third of rounds are
degenerate (`core.rounds.degenerate`: under 3 words, repeating itself, or mostly non-words): what a person reading
the samples table would call broken. Reads the alarms each run stored while it trained (headless runs record them
as the window does) and its samples, or with `--replay` the alarms today's monitor raises on the run's stored
metrics and samples (`oversight_store.watch_run`), so that a changed threshold is measured on the same runs; opens
every project read-only and writes nothing.

    python bench/alarm_rates.py PROJECT_DIR [PROJECT_DIR ...] [--replay] [--json] [--held-out RESULTS.json ...]

`--held-out` judges by the answers bench/rounds.py kept (its --out files) instead: the last online run of each of
its setting folders (RULE-one|two-PENALTY/seedN) went wrong when WRONG_SHARE of its 60 held-out answers are
degenerate; the samples table (4 answers a round) is the weaker judge (RESULTS sections 29 and 33), and runs
without held-out answers are left out.

Projects made by bench/rounds.py (kept under its temporary folder) or bench/pipeline.py are what it was written
for: each holds PPO runs of one rule and setting.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.core.oversight_store import alarms, watch_run  # noqa: E402
from studio.core.project import DB_NAME  # noqa: E402
from studio.core.rounds import degenerate  # noqa: E402
from studio.core.run_kinds import KINDS  # noqa: E402
from studio.core.store import Store, StoreError  # noqa: E402

WRONG_SHARE = 0.25


def label(project: Path) -> str:
    """A project's name in the rows: its folder and the one above (bench/rounds.py's `folder_name`, kept in its
    results as "folder")."""
    return f"{project.parent.name}/{project.name}"


def run_rows(project: Path, replay: bool = False) -> list[dict]:
    """One row per finished online run of the project: its degenerate share late in the run and its alarms (as
    stored, or as today's monitor raises them on its stored rounds)."""
    store = Store(project / DB_NAME, read_only=True)
    rows = []
    for run in store.runs():
        if run.status != "finished" or run.kind not in KINDS or not KINDS[run.kind].online:
            continue
        samples = store.samples(run.id)
        steps = sorted({s["step"] for s in samples})
        late = [s["response"] for s in samples if s["step"] in steps[-max(1, len(steps) // 3):]]
        share = statistics.fmean(map(degenerate, late)) if late else 0.0
        raised = watch_run(store, run.id).monitor.alarms if replay else [a for _, a in alarms(store, run.id)]
        fired = sorted({a.signal for a in raised})
        rows.append({"project": label(project), "run": run.id, "kind": run.kind, "degenerate_late": round(share, 3),
                     "went_wrong": share >= WRONG_SHARE, "alarms": fired})
    store.close()
    return rows


def judge_held_out(rows: list[dict], results: dict[str, dict], projects: list[Path]) -> list[dict]:
    """Only each project's last online run, judged by its held-out answers' degenerate share."""
    judged, by_folder = [], {r["folder"]: r for r in results.values()}  # bench/rounds.py's folder_name
    for project in projects:
        answers = by_folder.get(label(project), {}).get("answers")
        runs = [r for r in rows if r["project"] == label(project)]
        if answers and runs:
            share = statistics.fmean(map(degenerate, answers))
            judged.append({**runs[-1], "degenerate_held_out": round(share, 3), "went_wrong": share >= WRONG_SHARE})
    return judged


def rates(rows: list[dict]) -> dict:
    """Runs that went wrong and were caught (any alarm), false alarms (any alarm on a run that did not), per signal."""
    wrong = [r for r in rows if r["went_wrong"]]
    fine = [r for r in rows if not r["went_wrong"]]
    signals = sorted({s for r in rows for s in r["alarms"]})
    share = lambda runs, test: sum(map(test, runs)) / len(runs) if runs else None  # noqa: E731
    return {"runs": len(rows), "went_wrong": len(wrong), "fine": len(fine),
            "caught": share(wrong, lambda r: bool(r["alarms"])),
            "false_alarm_rate": share(fine, lambda r: bool(r["alarms"])),
            "per_signal": {s: {"on_wrong": sum(s in r["alarms"] for r in wrong),
                               "on_fine": sum(s in r["alarms"] for r in fine)} for s in signals}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("projects", type=Path, nargs="+")
    parser.add_argument("--replay", action="store_true", help="today's monitor on the stored rounds")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--held-out", type=Path, nargs="+", default=None, metavar="RESULTS",
                        help="bench/rounds.py --out files: judge each setting's last run by its held-out answers")
    args = parser.parse_args(argv)
    projects = [p for p in args.projects if (p / DB_NAME).is_file()]
    try:
        rows = [row for project in projects for row in run_rows(project, args.replay)]
        if args.held_out:
            results = {k: v for f in args.held_out for k, v in json.loads(f.read_text()).items()}
            rows = judge_held_out(rows, results, projects)
    except (OSError, sqlite3.Error, StoreError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    found = rates(rows)
    if args.json:
        print(json.dumps({"rates": found, "runs": rows}))
        return 0
    for r in rows:
        held = f" held-out {r['degenerate_held_out']:.2f}" if "degenerate_held_out" in r else ""
        print(f"{r['project']:>28} run {r['run']:>3} {r['kind']:>5} degenerate {r['degenerate_late']:.2f}{held} "
              f"{'WRONG' if r['went_wrong'] else 'fine ':5} alarms: {', '.join(r['alarms']) or '-'}")
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
