"""kill -9 at random moments loses nothing: acknowledged rankings stay, killed training runs resume.

Each kill is a real SIGKILL to a child process (see tests/kill_harness.py); bench/soak_kills.py does the
same many more times. Set FAULT_SEED to replay a run's random kill points (each test prints its seed).
"""
import os
import random
import subprocess
import sys

import pytest

from studio.core.store import Store
from tests.kill_harness import (ROOT, add_comparisons, child_env, kill_and_resume, kill_while_ranking,
                                seed_project)

RANKING_KILLS = 3


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))
    print(f"FAULT_SEED={seed}")
    return random.Random(seed)


def test_kill_while_saving_rankings_loses_no_acknowledged_ranking(tmp_path, rng):
    seed_project(tmp_path / "p", model="embedded", comparisons=0)
    db = tmp_path / "p" / "studio.db"
    add_comparisons(db, 1000)  # far more than the kill waits for, so the writer is always mid-way
    results = [kill_while_ranking(db, f"annotator{i}", rng, max_acks=150) for i in range(RANKING_KILLS)]
    survived = sum(r.survived for r in results)
    print(f"ranking kills: tried {len(results)}, survived {survived}; acknowledged "
          f"{[r.acknowledged for r in results]}, lost {sum(r.lost for r in results)}")
    for r in results:
        assert r.killed, "the writer finished before the kill: give it more comparisons"
        assert r.integrity == "ok"
        assert r.lost == 0
        assert r.unacknowledged_extra <= 1  # at most the write in flight landed without its acknowledgement
    with Store(db) as store:
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert survived == RANKING_KILLS


@pytest.mark.parametrize("rate", [False, True], ids=["ranking", "rating"])
def test_kill_while_labelling_a_pack_loses_no_acknowledged_label(tmp_path, rng, rate):
    """A ranking writer, or a rating writer as the pack window's Rate page, killed in a labelling pack."""
    from studio.core.packs import export_pack

    project = seed_project(tmp_path / "p", model="embedded", comparisons=0)
    add_comparisons(project.db_path, 300)  # 300 comparisons, 900 answers to rate
    pack = tmp_path / "todo.pack"
    with Store(project.db_path) as store:
        export_pack(store, pack)
    results = [kill_while_ranking(pack, f"annotator{i}", rng, max_acks=100, pack=True, rate=rate)
               for i in range(RANKING_KILLS)]
    for r in results:
        assert r.killed and r.integrity == "ok" and r.lost == 0 and r.unacknowledged_extra <= 1
    assert not pack.with_name("todo.pack-wal").exists()  # the pack stays one self-contained file


def test_two_processes_write_one_project_at_once(tmp_path):
    """A training run's metrics and the rank page's rankings: neither fails with "database is locked"."""
    seed_project(tmp_path / "p", model="embedded", comparisons=0)
    db = tmp_path / "p" / "studio.db"
    add_comparisons(db, 150)
    children = [subprocess.Popen([sys.executable, "-m", "tests.kill_harness", *args], cwd=ROOT, env=child_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for args in (["rank", str(db), "ann"], ["metrics", str(db), "300"])]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    with Store(db) as store:
        assert len(store.rankings()) == 150
        assert len(store.metrics(store.runs()[-1].id)) == 600


def test_kill_each_trainer_mid_run_then_resume_reaches_the_final_step(tmp_path, tiny_model_dir, rng):
    """sft and reward side by side, then dpo and ppo (which need them) side by side; each killed once.

    The sft run is then also left as a kill between a checkpoint save's two renames leaves it.
    """
    project = seed_project(tmp_path / "p", tiny_model_dir).root
    logs = tmp_path / "logs"
    logs.mkdir()
    results = kill_and_resume(project, ["sft", "reward"], 10, rng, logs, tear={"sft"})
    results += kill_and_resume(project, ["dpo", "ppo"], 8, rng, logs)
    print(f"trainer kills: tried {len(results)}, survived {sum(r.survived for r in results)}")
    for r in results:
        print(f"  {r.kind:<6} run {r.run_id}: killed after checkpoint {r.checkpoint_step}/{r.steps} "
              f"(status {r.status_after_kill}), resumed -> {r.final_status} at step {r.final_step}")
    for r in results:
        assert r.status_after_kill == "running", f"{r.kind} was not killed mid-run"
        assert r.resume_rc == 0, r.log
        assert (r.final_status, r.final_step) == ("finished", r.steps), r.log
        assert r.metric_steps_complete, f"{r.kind}: a step has no metrics"
        assert r.resumed_from_checkpoint, f"{r.kind}: the resume started over instead of at the checkpoint"
    with Store(project / "studio.db") as store:
        runs = {r.kind: r for r in store.runs()}
    assert runs["dpo"].parent == runs["ppo"].parent == runs["sft"].id
    assert all((project / "runs" / str(r.id) / "adapter" / "adapter_model.safetensors").exists()
               for r in runs.values())
