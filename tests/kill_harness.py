"""kill -9 at random moments, then check that nothing acknowledged was lost.

Shared by tests/test_faults.py (a few kills) and bench/soak_kills.py (many). Two kinds of victim:
- a ranking writer: `python -m tests.kill_harness rank DB ANNOTATOR` ranks every comparison in turn and
  prints one line per ranking once `Store.add_ranking` has returned (that line is the acknowledgement);
  `rank-pack PACK ANNOTATOR` does the same in a labelling pack (as the pack window does), and
  `rate-pack PACK ANNOTATOR` rates every answer of a pack in turn (as the pack window's Rate page does),
  one line per rating once `Ratings.add` has returned;
- a trainer: `python -m studio train KIND DIR ...`, killed once it has written a checkpoint, then resumed
  with `--resume RUN_ID`.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from studio.core.packs import open_pack
from studio.core.project import Project
from studio.core.ratings import Ratings
from studio.core.store import Store

ROOT = Path(__file__).resolve().parents[1]
CHILD_ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
             "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
# Tiny runs that checkpoint after every step, so a kill lands between two checkpoints.
SUPERVISED = ["--batch-size", "2", "--set", "checkpoint_every=1", "--set", "warmup_steps=0"]
TRAIN_SETTINGS = {
    "sft": SUPERVISED,
    "reward": SUPERVISED,
    "dpo": SUPERVISED,
    "kto": SUPERVISED,
    "ppo": ["--batch-size", "2", "--set", "checkpoint_every=1", "--set", "max_new_tokens=6",
            "--set", "ppo_epochs=1", "--set", "minibatches=1", "--set", "samples_per_iteration=2"],
    "rloo": ["--batch-size", "2", "--set", "checkpoint_every=1", "--set", "max_new_tokens=6",
             "--set", "samples_per_prompt=3", "--set", "samples_per_iteration=2"],
    "grpo": ["--batch-size", "2", "--set", "checkpoint_every=1", "--set", "max_new_tokens=6",
             "--set", "samples_per_prompt=3", "--set", "samples_per_iteration=2", "--set", "beta=0.05"],
}


def child_env() -> dict[str, str]:
    return {**os.environ, **CHILD_ENV}


def studio_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "studio", *map(str, args)]


# -- a project with something to rank and train on --------------------------------------------------------
def seed_project(root: Path, model: str | Path, comparisons: int = 6, responses: int = 3, ratings: bool = False
                 ) -> Project:
    """A project on `model` with 4 demos and `comparisons` comparisons ranked by annotator "seed"
    (`ratings`: every answer also rated by "seed", good when it ends in "a", so KTO has data)."""
    project = Project.init(root, model=model)
    store = project.store
    with store.transaction():
        for i in range(4):
            store.add_demo(f"question {i}?", f"answer number {i}.")
        for i in range(comparisons):
            prompt_id = store.add_prompt(f"prompt {i}")
            ids = [store.add_response(prompt_id, f"reply {i}.{j} " + "ab"[j % 2] * (j + 1), "base")
                   for j in range(responses)]
            comparison = store.add_comparison(prompt_id, ids)
            store.add_ranking(comparison, [[j] for j in range(responses)], annotator="seed")
    if ratings:
        for response in store.responses():
            Ratings(store).add(response.id, response.text.endswith("a"), "seed")
    project.close()
    return project


def add_comparisons(db: Path, count: int, responses: int = 3) -> None:
    """`count` more unranked comparisons (for a ranking writer to work through)."""
    with Store(db) as store, store.transaction():
        start = len(store.prompts())
        for i in range(start, start + count):
            prompt_id = store.add_prompt(f"to rank {i}")
            ids = [store.add_response(prompt_id, f"candidate {i}.{j}", "base") for j in range(responses)]
            store.add_comparison(prompt_id, ids)


# -- the ranking writer (child side) ------------------------------------------------------------------------
def ranking_for(comparison_id: int, size: int) -> tuple[list[list[int]], str]:
    """A deterministic order (sometimes with a tie) or a skip / all-bad verdict for one comparison."""
    rng = random.Random(comparison_id)
    roll = rng.random()
    if roll < 0.1:
        return [], "skip"
    if roll < 0.15:
        return [], "all_bad"
    positions = list(range(size))
    rng.shuffle(positions)
    order = [[p] for p in positions]
    if roll < 0.35:  # tie the last two
        order[-2:] = [sorted(order[-2][0:1] + order[-1])]
    return order, "ranked"


def rank_everything(db: str, annotator: str, pack: bool = False) -> None:
    """Rank every comparison once as `annotator`, printing `id comparison_id` after each commit."""
    with (open_pack(db) if pack else Store(db)) as store:
        for comparison in store.comparisons():
            order, status = ranking_for(comparison.id, len(comparison.response_ids))
            ranking_id = store.add_ranking(comparison.id, order, annotator=annotator, status=status)
            print(f"{ranking_id} {comparison.id}", flush=True)


def rating_for(response_id: int) -> bool:
    """A deterministic good or bad for one answer."""
    return random.Random(response_id).random() < 0.5


def rate_everything(db: str, annotator: str) -> None:
    """Rate every answer of pack `db` once as `annotator`, printing `id response_id` after each commit."""
    with open_pack(db) as store:
        ratings = Ratings(store)
        for item in ratings.unrated(annotator):
            print(f"{ratings.add(item.response_id, rating_for(item.response_id), annotator)} {item.response_id}",
                  flush=True)


def record_metrics(db: str, steps: int, pause: float = 0.005) -> None:
    """Write metrics the way a training run does (one small commit per step), beside other writers."""
    with Store(db) as store:
        run_id = store.create_run("sft", {"steps": steps})
        for step in range(1, steps + 1):
            store.add_metrics(run_id, step, {"loss": 1 / step, "lr": 1e-4})
            time.sleep(pause)
        store.update_run(run_id, status="finished", step=steps)


# -- the ranking writer (parent side) -----------------------------------------------------------------------
@dataclass
class RankingKill:
    killed: bool  # the child died by SIGKILL (not finished before the kill)
    acknowledged: int
    lost: int  # acknowledged labels (rankings, or ratings) missing or changed in the store
    integrity: str  # PRAGMA integrity_check
    unacknowledged_extra: int  # labels stored but never acknowledged (at most the one in flight)

    @property
    def survived(self) -> bool:
        return self.killed and self.lost == 0 and self.integrity == "ok" and self.unacknowledged_extra <= 1


def kill_while_ranking(db: Path, annotator: str, rng: random.Random, max_acks: int, pack: bool = False,
                       rate: bool = False) -> RankingKill:
    """Start a ranking writer, SIGKILL it after a random number (1..max_acks) of acknowledgements, check the store
    (`pack`: a labelling pack; `rate`: a rating writer on a pack)."""
    mode = "rate-pack" if rate else "rank-pack" if pack else "rank"
    child = subprocess.Popen([sys.executable, "-m", "tests.kill_harness", mode, str(db), annotator], cwd=ROOT,
                             env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked: dict[int, int] = {}
    target = rng.randint(1, max_acks)
    while len(acked) < target:
        line = child.stdout.readline()
        if not line:
            break
        label_id, item_id = map(int, line.split())
        acked[label_id] = item_id
    time.sleep(rng.uniform(0, 0.004))  # land anywhere inside the next write
    child.send_signal(signal.SIGKILL)
    child.wait()
    for line in child.stdout.read().splitlines():  # printed before the kill: acknowledged too
        label_id, item_id = map(int, line.split())
        acked[label_id] = item_id
    stderr = child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    if child.returncode != -signal.SIGKILL and child.returncode != 0:
        raise RuntimeError(f"the {mode} writer failed before the kill:\n{stderr}")
    killed = child.returncode == -signal.SIGKILL
    if rate:
        return check_ratings(db, annotator, acked, killed)
    return check_rankings(db, annotator, acked, killed, pack=pack)


def check_rankings(db: Path, annotator: str, acked: dict[int, int], killed: bool, pack: bool = False
                   ) -> RankingKill:
    with (open_pack(db) if pack else Store(db)) as store:
        integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
        sizes = {c.id: len(c.response_ids) for c in store.comparisons()}
        stored = {r.id: r for r in store.rankings() if r.annotator == annotator}
    lost = 0
    for ranking_id, comparison_id in acked.items():
        row = stored.get(ranking_id)
        expected_order, expected_status = ranking_for(comparison_id, sizes[comparison_id])
        if row is None or (row.comparison_id, row.order, row.status) != (comparison_id, expected_order,
                                                                          expected_status):
            lost += 1
    return RankingKill(killed, len(acked), lost, integrity, len(set(stored) - set(acked)))


def check_ratings(db: Path, annotator: str, acked: dict[int, int], killed: bool) -> RankingKill:
    """Every acknowledged rating (id -> response id) is in pack `db` as it was made."""
    with open_pack(db) as store:
        integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
        stored = {r.id: (r.response_id, r.label) for r in Ratings(store).list(annotator)}
    lost = sum(stored.get(rating_id) != (response_id, rating_for(response_id))
               for rating_id, response_id in acked.items())
    return RankingKill(killed, len(acked), lost, integrity, len(set(stored) - set(acked)))


# -- trainers -------------------------------------------------------------------------------------------------
@dataclass
class TrainKill:
    kind: str
    run_id: int
    steps: int
    checkpoint_step: int  # the newest checkpoint seen just before the kill
    status_after_kill: str  # "running" when the kill landed mid-run
    resume_rc: int
    final_status: str
    final_step: int
    metric_steps_complete: bool  # every step 1..steps has its metrics recorded
    resumed_from_checkpoint: bool  # steps up to the checkpoint were not trained (recorded) a second time
    log: str

    @property
    def killed_mid_run(self) -> bool:
        return self.status_after_kill == "running" and self.checkpoint_step < self.steps

    @property
    def survived(self) -> bool:
        return (self.killed_mid_run and self.resume_rc == 0 and self.final_status == "finished"
                and self.final_step == self.steps and self.metric_steps_complete and self.resumed_from_checkpoint)


@dataclass
class Trainer:
    """A `python -m studio train` child and what it is known to be doing."""

    kind: str
    steps: int
    process: subprocess.Popen
    log: Path
    known_runs: set[int]
    run_id: int | None = None


def start_training(project: Path, kind: str, steps: int, log: Path) -> Trainer:
    with Store(project / "studio.db") as store:
        known = {r.id for r in store.runs()}
    with open(log, "w") as out:
        process = subprocess.Popen(studio_command("train", kind, project, "--steps", steps, "--device", "cpu",
                                                  *TRAIN_SETTINGS[kind]),
                                   cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
    return Trainer(kind, steps, process, log, known)


def checkpoint_step(run_dir: Path) -> int | None:
    try:
        return json.loads((run_dir / "checkpoint" / "meta.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return None  # not written yet, or being renamed into place


def kill_at_checkpoints(project: Path, trainers: list[Trainer], targets: list[int],
                        timeout: float = 300) -> list[int]:
    """SIGKILL each trainer once it has a checkpoint at its target step or later; return those steps.

    All trainers are watched at once, so none runs to its end while another is being waited for.
    """
    deadline = time.monotonic() + timeout
    seen: list[int | None] = [None] * len(trainers)
    with Store(project / "studio.db") as store:
        while None in seen:
            for i, trainer in enumerate(trainers):
                if seen[i] is not None:
                    continue
                if trainer.run_id is None:
                    fresh = [r.id for r in store.runs(trainer.kind) if r.id not in trainer.known_runs]
                    trainer.run_id = fresh[0] if fresh else None
                step = checkpoint_step(project / "runs" / str(trainer.run_id)) if trainer.run_id else None
                if step is not None and step >= targets[i]:
                    trainer.process.send_signal(signal.SIGKILL)
                    trainer.process.wait()
                    seen[i] = step
                else:
                    _still_running(trainer, deadline)
            time.sleep(0.002)
    return seen


def _still_running(trainer: Trainer, deadline: float) -> None:
    if trainer.process.poll() is not None or time.monotonic() > deadline:
        raise RuntimeError(f"train {trainer.kind} ended (rc {trainer.process.returncode}) or timed out before "
                           f"the kill:\n{trainer.log.read_text()[-3000:]}")


def start_resume(project: Path, trainer: Trainer, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(studio_command("train", trainer.kind, project, "--resume", trainer.run_id,
                                               "--device", "cpu"),
                                cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT)


def check_resumed(project: Path, trainer: Trainer, checkpoint: int, status_after_kill: str,
                  resume: subprocess.Popen, log: Path, timeout: float = 300) -> TrainKill:
    rc = resume.wait(timeout)
    with Store(project / "studio.db") as store:
        run = store.run(trainer.run_id)
    recorded = metric_rows_per_step(project, trainer.run_id)
    return TrainKill(trainer.kind, trainer.run_id, trainer.steps, checkpoint, status_after_kill, rc, run.status,
                     run.step, set(recorded) == set(range(1, trainer.steps + 1)),
                     all(recorded.get(s) == 1 for s in range(1, checkpoint + 1)), log.read_text()[-3000:])


def run_status(project: Path, run_id: int) -> str:
    with Store(project / "studio.db") as store:
        return store.run(run_id).status


def kill_and_resume(project: Path, kinds: list[str], steps: int, rng: random.Random, logs: Path,
                    tear: set[str] = frozenset()) -> list[TrainKill]:
    """Train `kinds` side by side, kill each at a random checkpoint, resume them side by side.

    The killed runs of the kinds in `tear` are then left as a kill between a checkpoint save's two
    renames would leave them (`checkpoint.old/` and a complete `checkpoint.tmp/`, no `checkpoint/`).
    """
    children: list[subprocess.Popen] = []
    try:
        trainers = [start_training(project, kind, steps, logs / f"{kind}-killed.log") for kind in kinds]
        children += [t.process for t in trainers]
        targets = [rng.randint(1, max(1, steps // 2)) for _ in trainers]
        killed = list(zip(trainers, kill_at_checkpoints(project, trainers, targets)))
        resumes = []
        for trainer, step in killed:
            status = run_status(project, trainer.run_id)
            if trainer.kind in tear:
                tear_checkpoint(project / "runs" / str(trainer.run_id))
            log = logs / f"{trainer.kind}-resumed.log"
            resumes.append((trainer, step, status, start_resume(project, trainer, log), log))
            children.append(resumes[-1][3])
        return [check_resumed(project, t, step, status, p, log) for t, step, status, p, log in resumes]
    finally:
        for child in children:  # only after a failure: a trainer or resume still running
            if child.poll() is None:
                child.kill()
                child.wait()


def tear_checkpoint(run_dir: Path) -> None:
    """Put a run folder in the state a kill between save_checkpoint's two renames leaves."""
    final, tmp, old = (run_dir / name for name in ("checkpoint", "checkpoint.tmp", "checkpoint.old"))
    shutil.rmtree(tmp, ignore_errors=True)  # a kill may have left either behind already
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(final, tmp)
    final.rename(old)


def metric_rows_per_step(project: Path, run_id: int) -> dict[int, int]:
    """How many times each step's per-step metric was recorded (twice: trained again after a resume)."""
    with Store(project / "studio.db") as store:
        rows = store.metrics(run_id)
    # a metric recorded at every step (eval figures and their sizes come only at evaluations)
    steps_of: dict[str, set[int]] = {}
    for m in rows:
        steps_of.setdefault(m["name"], set()).add(m["step"])
    first = max(sorted(steps_of), key=lambda name: len(steps_of[name]), default=None)
    counts: dict[int, int] = {}
    for m in rows:
        if m["name"] == first:
            counts[m["step"]] = counts.get(m["step"], 0) + 1
    return counts


if __name__ == "__main__":
    if sys.argv[1:2] == ["rank"] and len(sys.argv) == 4:
        rank_everything(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["rank-pack"] and len(sys.argv) == 4:
        rank_everything(sys.argv[2], sys.argv[3], pack=True)
    elif sys.argv[1:2] == ["rate-pack"] and len(sys.argv) == 4:
        rate_everything(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["metrics"] and len(sys.argv) == 4:
        record_metrics(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python -m tests.kill_harness rank DB ANNOTATOR | rank-pack PACK ANNOTATOR | "
                 "rate-pack PACK ANNOTATOR | metrics DB STEPS")
