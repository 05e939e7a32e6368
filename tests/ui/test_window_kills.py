"""kill -9 the real window mid-ranking: every ranking the page acknowledged is in the store afterwards.

bench/soak_kills.py does the same many more times (--gui-kills).
"""
import os
import random

from tests.gui_kill_harness import kill_window_while_ranking
from tests.kill_harness import add_comparisons, seed_project

WINDOW_KILLS = 2


def test_killing_the_window_mid_ranking_loses_no_acknowledged_ranking(tmp_path, tiny_model_dir):
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))
    print(f"FAULT_SEED={seed}")
    rng = random.Random(seed)
    project = seed_project(tmp_path / "p", tiny_model_dir, comparisons=0).root
    add_comparisons(project / "studio.db", 200)
    results = [kill_window_while_ranking(project, f"window{i}", rng, max_acks=40) for i in range(WINDOW_KILLS)]
    for r in results:
        assert r.killed, "the window finished before the kill: give it more comparisons"
        assert r.acknowledged >= 1 and r.integrity == "ok" and r.lost == 0, r
        assert r.unacknowledged_extra <= 1  # at most the decision in flight landed without its acknowledgement
