"""The store's schema: numbered migrations, each a small function run once, in order, when a project opens.

`MIGRATIONS[n - 1]` brings a database from schema version n - 1 to n; a new table or column is a new entry
at the end, never an edit of an old one.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath

from sqlite_utils import Database


def _migration_1(db: Database) -> None:
    """Create every table."""
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
        CREATE TABLE demonstrations (
            id INTEGER PRIMARY KEY AUTOINCREMENT, prompt TEXT NOT NULL, response TEXT NOT NULL,
            system TEXT, created TEXT NOT NULL, updated TEXT NOT NULL);
        CREATE TABLE responses (
            id INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            text TEXT NOT NULL, policy TEXT NOT NULL, settings TEXT NOT NULL, created TEXT NOT NULL);
        CREATE INDEX responses_prompt ON responses(prompt_id, policy);
        CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            response_ids TEXT NOT NULL, created TEXT NOT NULL);
        CREATE TABLE rankings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id), annotator TEXT NOT NULL,
            "order" TEXT NOT NULL, status TEXT NOT NULL,
            created TEXT NOT NULL, UNIQUE (comparison_id, annotator));
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
            config TEXT NOT NULL, status TEXT NOT NULL,
            parent INTEGER REFERENCES runs(id), artifact TEXT, step INTEGER NOT NULL DEFAULT 0,
            final_metrics TEXT NOT NULL DEFAULT '{}', error TEXT, created TEXT NOT NULL, finished TEXT);
        CREATE TABLE metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, name TEXT NOT NULL,
            value REAL, time REAL NOT NULL);
        CREATE INDEX metrics_run ON metrics(run_id);
        CREATE TABLE samples (
            run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, prompt TEXT NOT NULL,
            response TEXT NOT NULL, reward REAL);
        CREATE INDEX samples_run ON samples(run_id);
    """)



def artifact_in_run(run_id: int, stored: str | None) -> str | None:
    """`runs/<run_id>/...` from a stored artifact path (relative, or absolute from an older version), else None.

    An absolute path counts only through its last `runs/<run_id>` pair of components, so a project that was
    moved keeps its runs; `..`, other runs' folders and places outside runs/ give None.
    """
    if not stored:
        return None
    parts = PurePosixPath(stored.replace("\\", "/")).parts
    pairs = [i for i in range(len(parts) - 1) if parts[i:i + 2] == ("runs", str(run_id))]
    absolute = PurePosixPath(stored).is_absolute() or PureWindowsPath(stored).is_absolute()
    if not pairs or (not absolute and pairs[0] != 0):
        return None
    tail = parts[pairs[-1]:]
    if ".." in tail or len(tail) < 3:
        return None
    return "/".join(tail)


def _migration_relative_artifacts(db: Database) -> None:
    """Run artifacts become paths relative to the project root (runs/<id>/adapter); others are cleared."""
    for run_id, stored in db.execute("SELECT id, artifact FROM runs WHERE artifact IS NOT NULL").fetchall():
        db.execute("UPDATE runs SET artifact = ? WHERE id = ?", [artifact_in_run(run_id, stored), run_id])


def _migration_ratings(db: Database) -> None:
    """One-key ratings: one answer judged good (label 1) or bad (0), one row per response and annotator."""
    db.executescript("""
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            response_id INTEGER NOT NULL REFERENCES responses(id), label INTEGER NOT NULL CHECK (label IN (0, 1)),
            annotator TEXT NOT NULL, created TEXT NOT NULL, UNIQUE (response_id, annotator));
        CREATE INDEX ratings_prompt ON ratings(prompt_id);
    """)




def create_label_tables(db: Database) -> None:
    """Migration: reward-model guesses and self-consistency repeats."""
    db.executescript("""
        CREATE TABLE rm_guesses (
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id), run_id INTEGER NOT NULL REFERENCES runs(id),
            p_first REAL NOT NULL, spread REAL NOT NULL, probs TEXT NOT NULL, unsure INTEGER NOT NULL,
            method TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (comparison_id, run_id));
        CREATE TABLE repeats (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id), annotator TEXT NOT NULL,
            "order" TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL);
        CREATE INDEX repeats_annotator ON repeats(annotator, comparison_id);
    """)


def migrate_oversight(db: Database) -> None:
    """Migration: tables for alarms, principles, AI-label confidences and gold-check comparisons."""
    db.executescript("""
        CREATE TABLE alarms (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL REFERENCES runs(id),
            signal TEXT NOT NULL, began INTEGER NOT NULL, raised INTEGER NOT NULL, message TEXT NOT NULL,
            action TEXT NOT NULL, created TEXT NOT NULL, UNIQUE (run_id, signal));
        CREATE TABLE principles (
            id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
        CREATE TABLE label_confidence (
            ranking_id INTEGER PRIMARY KEY REFERENCES rankings(id) ON DELETE CASCADE, confidence REAL NOT NULL);
        CREATE TABLE gold_checks (
            comparison_id INTEGER PRIMARY KEY REFERENCES comparisons(id), run_id INTEGER NOT NULL
            REFERENCES runs(id), round INTEGER NOT NULL, policy_position INTEGER NOT NULL,
            policy_reward REAL);
    """)


def create_rating_repeats(db: Database) -> None:
    """Migration: self-consistency repeats of ratings (an answer rated again, unannounced, kept apart)."""
    db.executescript("""
        CREATE TABLE rating_repeats (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            response_id INTEGER NOT NULL REFERENCES responses(id), annotator TEXT NOT NULL,
            label INTEGER NOT NULL CHECK (label IN (0, 1)), created TEXT NOT NULL);
        CREATE INDEX rating_repeats_annotator ON rating_repeats(annotator, response_id);
    """)


def add_prompt_answers(db: Database) -> None:
    """Migration: a prompt's reference answer (`{"prompt", "answer"}` imports; reward terms such as rule:number)."""
    db.execute("ALTER TABLE prompts ADD COLUMN answer TEXT")


def add_cut_answers(db: Database) -> None:
    """Migration: whether a generated answer stopped at the token limit mid-sentence (NULL: not known)."""
    db.execute("ALTER TABLE responses ADD COLUMN cut INTEGER")


MIGRATIONS: list[Callable[[Database], None]] = [_migration_1, _migration_relative_artifacts, _migration_ratings,
                                               create_label_tables, migrate_oversight, create_rating_repeats,
                                               add_prompt_answers, add_cut_answers]
SCHEMA_VERSION = len(MIGRATIONS)
