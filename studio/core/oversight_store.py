"""What oversight keeps in the project's store: hacking alarms, principles, AI-label confidences, gold checks.

Functions over a `Store` (its tables come from `migrations.migrate_oversight`), kept out of the store so
that it stays the shared core. Every write commits at once, like the Store's own.
"""
from __future__ import annotations

from dataclasses import dataclass

from studio.core.answer_quality import words
from studio.core.monitor import ROUND_SIGNALS, Alarm, HackingMonitor, monitor_for
from studio.core.store_base import now, required_text



@dataclass(frozen=True)
class GoldCheck:
    comparison_id: int
    run_id: int
    round: int
    policy_position: int          # which response of the comparison the PPO policy wrote
    policy_reward: float | None   # the reward model's score of that answer during the run


# -- alarms ------------------------------------------------------------------------------------------------
def add_alarm(store, run_id: int, alarm: Alarm) -> None:
    """Record an alarm (a signal fires once per run; a resumed run raising it again changes nothing)."""
    with store.transaction():
        store.db.execute("INSERT OR IGNORE INTO alarms (run_id, signal, began, raised, message, action, created) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", [run_id, alarm.signal, alarm.began, alarm.raised,
                                                          alarm.message, alarm.action, now()])


def alarms(store, run_id: int | None = None) -> list[tuple[int, Alarm]]:
    """(run id, alarm) in the order raised."""
    rows = store.select_rows("SELECT * FROM alarms WHERE ? IS NULL OR run_id = ? ORDER BY id", [run_id, run_id])
    return [(r["run_id"], Alarm(r["signal"], r["began"], r["raised"], r["message"], r["action"])) for r in rows]


class RunWatch:
    """Feeds a run's hacking monitor its metrics (call it) and its samples table (`samples`), storing every alarm
    raised; without a monitor (offline kinds) it does nothing."""

    def __init__(self, store, run_id: int, monitor: HackingMonitor | None):
        self.store, self.run_id, self.monitor = store, run_id, monitor

    def __call__(self, step: int, values: dict[str, float]) -> list[Alarm]:
        return self._keep(self.monitor.observe(step, values)) if self.monitor else []

    def samples(self, step: int, rows: list[dict]) -> list[Alarm]:
        return self._keep(self.monitor.observe_samples(step, rows)) if self.monitor else []

    def _keep(self, raised: list[Alarm]) -> list[Alarm]:
        for alarm in raised:
            add_alarm(self.store, self.run_id, alarm)
        return raised


def watch_run(store, run_id: int) -> RunWatch:
    """The run's watch (`RunWatch`). A resumed run's recorded rounds (metrics, then samples) are replayed first,
    so the monitor knows where the run started."""
    run = store.run(run_id)
    monitor = monitor_for(run.kind, run.config)
    if monitor is not None:
        monitor.settings.labelled_words = labelled_words(store)
        recorded: dict[int, dict[str, float]] = {}
        for row in store.metrics(run_id):
            recorded.setdefault(row["step"], {})[row["name"]] = row["value"]
        shown: dict[int, list[dict]] = {}
        for row in store.samples(run_id):
            shown.setdefault(row["step"], []).append(row)
        for step in sorted(set(recorded) | set(shown)):
            if step in recorded:
                monitor.observe(step, recorded[step])
            monitor.observe_samples(step, shown.get(step, []))
    return RunWatch(store, run_id, monitor)


def labelled_words(store) -> tuple[float, float] | None:
    """The 5th-95th percentile length in words of the answers in ranked comparisons (`words_range`)."""
    ranked = {r.comparison_id for r in store.rankings() if r.status == "ranked"}
    return words_range([len(words(text)) for c in store.comparisons() if c.id in ranked for text in c.responses])


def words_range(lengths: list[int], least: int = 10) -> tuple[float, float] | None:
    """The 5th and 95th percentile of `lengths` (nearest rank); None under `least` of them."""
    if len(lengths) < least:
        return None
    ordered = sorted(lengths)
    rank = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return float(rank(0.05)), float(rank(0.95))


def flagged_prompts(store, run_id: int) -> list[str]:
    """The prompts whose answers raised run `run_id`'s alarms that a round can answer (`monitor.ROUND_SIGNALS`),
    in the order raised: a round samples them first. Replayed from the run's stored metrics and samples."""
    monitor = watch_run(store, run_id).monitor
    found = [p for a in (monitor.alarms if monitor else []) if a.signal in ROUND_SIGNALS for p in a.prompts]
    return list(dict.fromkeys(found))


def forget_alarms_after(store, run_id: int, step: int) -> None:
    """A resumed run repeats the rounds after its checkpoint: their alarms go, to be raised again if still due."""
    with store.transaction():
        store.db.execute("DELETE FROM alarms WHERE run_id = ? AND raised > ?", [run_id, step])


# -- principles --------------------------------------------------------------------------------------------
def add_principle(store, text: str) -> int:
    """Store a principle (stripped, non-empty); the same text again returns the existing id."""
    text = required_text(text, "a principle").strip()
    with store.transaction():
        row = store.db.execute("SELECT id FROM principles WHERE text = ?", [text]).fetchone()
        return row[0] if row else store.insert_row("principles", {"text": text, "created": now()})


def principles(store) -> list[tuple[int, str]]:
    return [(r["id"], r["text"]) for r in store.select_rows("SELECT id, text FROM principles ORDER BY id")]


def delete_principle(store, id: int) -> None:
    with store.transaction():
        store.get_row("principles", id, "principle")
        store.db.execute("DELETE FROM principles WHERE id = ?", [id])


# -- machine labels ----------------------------------------------------------------------------------------
def add_machine_label(store, comparison_id: int, order: list[list[int]], annotator: str,
                      confidence: float) -> int:
    """A ranking by a rule or a judge with its confidence in [0, 1], both committed together."""
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    with store.transaction():
        ranking_id = store.add_ranking(comparison_id, order, annotator)
        store.db.execute("INSERT INTO label_confidence VALUES (?, ?)", [ranking_id, confidence])
        return ranking_id


def confidences(store) -> dict[int, float]:
    """Ranking id -> confidence of every machine label."""
    return dict(store.db.execute("SELECT ranking_id, confidence FROM label_confidence").fetchall())


# -- gold checks -------------------------------------------------------------------------------------------
def add_gold_check(store, check: GoldCheck) -> None:
    with store.transaction():
        store.db["gold_checks"].insert(vars(check))


def gold_checks(store, run_id: int | None = None) -> list[GoldCheck]:
    rows = store.select_rows("SELECT * FROM gold_checks WHERE ? IS NULL OR run_id = ? ORDER BY comparison_id",
                       [run_id, run_id])
    return [GoldCheck(**row) for row in rows]


def gold_prompts(store, run_id: int, round_: int) -> set[str]:
    """Prompts already turned into gold checks for this run and round (so a second click adds none twice)."""
    rows = store.select_rows("SELECT p.text FROM gold_checks g JOIN comparisons c ON c.id = g.comparison_id "
                       "JOIN prompts p ON p.id = c.prompt_id WHERE g.run_id = ? AND g.round = ?", [run_id, round_])
    return {r["text"] for r in rows}


def annotators(store) -> list[str]:
    """Every annotator that has ranked something."""
    return [r[0] for r in store.db.execute("SELECT DISTINCT annotator FROM rankings ORDER BY annotator")]
