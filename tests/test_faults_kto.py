"""kill -9 a KTO run mid-way (a real SIGKILL, tests/kill_harness.py), then resume it to its final step; and
a rating acknowledged before the kill of the process that wrote it is still there."""
import os
import random
import subprocess
import sys

import pytest

from studio.core.ratings import Ratings
from studio.core.store import Store
from tests.kill_harness import ROOT, child_env, kill_and_resume, seed_project


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))
    print(f"FAULT_SEED={seed}")
    return random.Random(seed)


def test_kill_kto_mid_run_then_resume_reaches_the_final_step(tmp_path, tiny_model_dir, rng):
    project = seed_project(tmp_path / "p", tiny_model_dir, ratings=True).root
    logs = tmp_path / "logs"
    logs.mkdir()
    [r] = kill_and_resume(project, ["kto"], 8, rng, logs)
    print(f"kto run {r.run_id}: killed after checkpoint {r.checkpoint_step}/{r.steps}, resumed -> "
          f"{r.final_status} at step {r.final_step}")
    assert r.status_after_kill == "running", "kto was not killed mid-run"
    assert r.resume_rc == 0, r.log
    assert (r.final_status, r.final_step) == ("finished", r.steps), r.log
    assert r.metric_steps_complete and r.resumed_from_checkpoint, r.log
    assert (project / "runs" / str(r.run_id) / "adapter" / "adapter_model.safetensors").exists()


WRITER = """
import sys
from studio.core.ratings import Ratings
from studio.core.store import Store
with Store(sys.argv[1]) as store:
    ratings = Ratings(store)
    for item in ratings.unrated("writer"):
        print(item.response_id, ratings.add(item.response_id, item.response_id % 2 == 0, "writer"), flush=True)
"""


def test_kill_while_rating_loses_no_acknowledged_rating(tmp_path, rng):
    project = seed_project(tmp_path / "p", model="embedded", comparisons=300).root
    db = project / "studio.db"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=ROOT, env=child_env(),
                             stdout=subprocess.PIPE, text=True)
    acked = {}
    for _ in range(rng.randint(1, 200)):
        response_id, rating_id = map(int, child.stdout.readline().split())
        acked[rating_id] = response_id
    child.kill()
    child.wait()
    with Store(db) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r.id: r for r in Ratings(store).list("writer")}
    assert all(stored[i].response_id == acked[i] and stored[i].label == (acked[i] % 2 == 0) for i in acked)
    assert len(stored) - len(acked) <= 1  # at most the write in flight landed without its acknowledgement
    assert len(stored) < 900, "the writer finished before the kill"
