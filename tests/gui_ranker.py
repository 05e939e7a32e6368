"""The real window, offscreen, ranking with the keyboard: the victim of the GUI kill soak.

    python -m tests.gui_ranker PROJECT ANNOTATOR

Opens MainWindow on PROJECT (its model loads in the background as usual), goes to the Rank page and
answers every comparison with key presses (1..K picks, T tie, B all bad, S skip, chosen per comparison
id). After each decision the page saved, it prints `ranking_id comparison_id order_json status`: the
acknowledgement that the parent (tests/gui_kill_harness.py) checks against the store after a kill -9.
"""
from __future__ import annotations

import json
import os
import random
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.ui.context import StudioContext  # noqa: E402
from studio.ui.main_window import PAGES, MainWindow  # noqa: E402

KEYS = {"tie": Qt.Key.Key_T, "all_bad": Qt.Key.Key_B, "skip": Qt.Key.Key_S}


def keys_for(comparison_id: int, size: int) -> tuple[list[Qt.Key], list[list[int]], str]:
    """The key presses for one comparison, and the order and status they save."""
    rng = random.Random(comparison_id)
    roll = rng.random()
    for limit, verdict in ((0.1, "skip"), (0.15, "all_bad")):
        if roll < limit:
            return [KEYS[verdict]], [], verdict
    if roll < 0.25:
        return [KEYS["tie"]], [list(range(size))], "ranked"
    picks = rng.sample(range(size), size - 1)
    last = [p for p in range(size) if p not in picks]
    return [Qt.Key(Qt.Key.Key_1.value + p) for p in picks], [[p] for p in picks] + [last], "ranked"


def main(root: str, annotator: str) -> int:
    app = QApplication([sys.argv[0]])
    window = MainWindow(StudioContext(root, annotator=annotator, device="cpu"))
    window.show()
    window.activateWindow()
    window.tabs.setCurrentIndex(PAGES.index("Rank"))
    page = window.rank_page

    def step() -> None:
        if not window.isActiveWindow():  # shortcuts work once the window is active
            QTimer.singleShot(10, step)
            return
        comparison = page.comparison
        if comparison is None:
            window.close()
            return
        done = len(page._decisions)
        keys, order, status = keys_for(comparison.id, len(comparison.response_ids))
        for key in keys:
            QTest.keyClick(window.windowHandle(), key)
        if len(page._decisions) != done + 1:
            raise SystemExit(f"the page did not save comparison {comparison.id}: {page.message.text()}")
        decision = page._decisions[-1]
        if decision.kind == "ranking":  # an unannounced repeat is stored apart, not as a ranking
            print(decision.id, decision.comparison_id, json.dumps(order), status, flush=True)
        QTimer.singleShot(0, step)

    QTimer.singleShot(0, step)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
