"""kill -9 the real window (offscreen) while it ranks; then check that every acknowledged ranking is stored.

The victim is `python -m tests.gui_ranker PROJECT ANNOTATOR` (MainWindow, Rank page, key presses), which
prints `ranking_id comparison_id order status` once the page has saved a decision.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio.core.store import Store
from tests.kill_harness import ROOT, RankingKill, child_env


def kill_window_while_ranking(project: Path, annotator: str, rng: random.Random, max_acks: int,
                              timeout: float = 300) -> RankingKill:
    """Start the window ranking as `annotator`, SIGKILL it after 1..max_acks saved decisions, check the store."""
    child = subprocess.Popen([sys.executable, "-m", "tests.gui_ranker", str(project), annotator], cwd=ROOT,
                             env={**child_env(), "QT_QPA_PLATFORM": "offscreen"}, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    acked: dict[int, tuple[int, list, str]] = {}
    target = rng.randint(1, max_acks)
    deadline = time.monotonic() + timeout

    def take(line: str) -> None:
        ranking_id, comparison_id, rest = line.strip().split(" ", 2)
        order, status = rest.rsplit(" ", 1)
        acked[int(ranking_id)] = (int(comparison_id), json.loads(order), status)

    while len(acked) < target and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        take(line)
    time.sleep(rng.uniform(0, 0.004))  # land anywhere inside the next decision
    child.send_signal(signal.SIGKILL)
    child.wait()
    for line in child.stdout.read().splitlines():  # printed before the kill: acknowledged too
        take(line)
    child.stdout.close()
    if child.returncode not in (-signal.SIGKILL, 0):
        raise RuntimeError(f"the window failed before the kill (rc {child.returncode})")
    return check_window_rankings(project / "studio.db", annotator, acked, child.returncode == -signal.SIGKILL)


def check_window_rankings(db: Path, annotator: str, acked: dict[int, tuple[int, list, str]],
                          killed: bool) -> RankingKill:
    with Store(db) as store:
        integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
        stored = {r.id: r for r in store.rankings() if r.annotator == annotator}
    lost = sum(1 for ranking_id, expected in acked.items()
               if ranking_id not in stored
               or (stored[ranking_id].comparison_id, stored[ranking_id].order, stored[ranking_id].status) != expected)
    return RankingKill(killed, len(acked), lost, integrity, len(set(stored) - set(acked)))
