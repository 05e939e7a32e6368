"""The SQLite store: prompts, demonstrations, responses, comparisons, rankings, runs and their metrics."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath

from sqlite_utils import Database

from studio.core.active import create_label_tables, create_rating_repeats
from studio.core.oversight_store import migrate_oversight
from studio.core.preferences import check_order, pairs_from_ranking
from studio.core.records import Comparison, Demo, PreferencePair, Prompt, Ranking, Response, Run
from studio.core.run_kinds import KINDS, run_kind

RUN_STATUSES = ("running", "finished", "cancelled", "failed", "diverged")
RANKING_STATUSES = ("ranked", "skip", "all_bad")
MAX_ID = 2**63 - 1  # SQLite's largest integer
LABEL_PATIENCE_S = 120.0  # how long a label the user made waits for another writer (an import, a training run)


class StoreError(RuntimeError):
    """The database cannot be opened or written: unwritable folder, locked, not a database, too new."""


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


MIGRATIONS: list[Callable[[Database], None]] = [_migration_1, _migration_relative_artifacts, _migration_ratings,
                                               create_label_tables, migrate_oversight, create_rating_repeats]
SCHEMA_VERSION = len(MIGRATIONS)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


class Store:
    """Everything a project records, in one SQLite file (`Store(None)`: in memory).

    Every write commits at once; group writes with `transaction()`. One Store per thread.
    """

    def __init__(self, path: str | Path | None, timeout: float = 5.0, read_only: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self._name = "the in-memory database" if path is None else str(path)
        self.read_only = read_only
        conn = None
        try:
            conn = _connect(self.path, timeout, read_only)
            self.db = Database(conn)
            if path is not None and not read_only:
                self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except (sqlite3.Error, StoreError) as e:
            if conn is not None:
                conn.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"cannot open {self._name}: {e}") from e

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        if not self.db["meta"].exists():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self._name} has schema version {version}, newer than this "
                             f"Alignment Studio knows ({SCHEMA_VERSION}): please upgrade")
        if self.read_only and version < SCHEMA_VERSION:
            raise StoreError(f"{self._name} is read-only and was made by an older Alignment Studio (schema "
                             f"{version}, this one needs {SCHEMA_VERSION}): open it once where it is writable")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self.db.atomic():
                MIGRATIONS[number - 1](self.db)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(number)])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: they all land or none does (nested blocks are savepoints).

        The outermost block takes the write lock up front (BEGIN IMMEDIATE), so another connection
        writing meanwhile (a training run beside the GUI) makes it wait up to `timeout`; a deferred
        transaction that reads, then writes, fails at once with "database is locked" instead.
        """
        if self.read_only:
            raise StoreError(f"{self._name} is read-only (its folder or file is not writable): nothing was changed")
        outermost = not self.db.conn.in_transaction
        try:
            if outermost:
                self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                with self.db.atomic():  # a savepoint inside our transaction
                    yield
            except BaseException:
                if outermost:
                    self.db.rollback()
                raise
            if outermost:
                self.db.commit()
        except sqlite3.OperationalError as e:
            raise StoreError(f"cannot write to {self._name}: {e}") from e

    @contextlib.contextmanager
    def label_transaction(self) -> Iterator[None]:
        """A transaction for a label the user made (a ranking, a rating, a repeat, or their undo): it waits up
        to LABEL_PATIENCE_S, not the store's timeout, for another writer's lock, so the label lands."""
        before = self.db.execute("PRAGMA busy_timeout").fetchone()[0]
        self.db.execute(f"PRAGMA busy_timeout = {int(LABEL_PATIENCE_S * 1000)}")
        try:
            with self.transaction():
                yield
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {before}")

    def _insert(self, table: str, row: dict) -> int:
        with self.transaction():
            return self.db[table].insert(row).last_pk

    def _rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        return list(self.db.query(sql, params))

    def _get(self, table: str, id: int, what: str) -> dict:
        rows = self._rows(f"SELECT * FROM {table} WHERE id = ?", [id])
        if not rows:
            raise LookupError(f"no {what} with id {id}")
        return rows[0]

    def _count(self, sql: str) -> int:
        return self.db.execute(sql).fetchone()[0]

    # prompts

    def add_prompt(self, text: str) -> int:
        """Add a prompt (stripped) and return its id, or the existing id for the same text."""
        text = _text(text, "prompt").strip()
        with self.transaction():
            row = self.db.execute("SELECT id FROM prompts WHERE text = ?", [text]).fetchone()
            return row[0] if row else self._insert("prompts", {"text": text, "created": _now()})

    def add_prompts(self, texts: Sequence[str]) -> dict[str, int]:
        """Add the prompts (stripped) not stored yet, in one batch; return every stripped text's id."""
        stripped = sorted({t.strip() for t in texts})
        now = _now()
        with self.transaction():
            self.db.conn.executemany("INSERT OR IGNORE INTO prompts (text, created) VALUES (?, ?)",
                                     [(t, now) for t in stripped])
            find = "SELECT id FROM prompts WHERE text = ?"  # one by one: json_each would cut texts at a NUL
            return {t: self.db.conn.execute(find, [t]).fetchone()[0] for t in stripped}

    def prompts(self) -> list[Prompt]:
        return [Prompt(**row) for row in self._rows("SELECT * FROM prompts ORDER BY id")]

    def prompt(self, id: int) -> Prompt:
        return Prompt(**self._get("prompts", id, "prompt"))

    def prompts_without_responses(self, policy: str) -> list[Prompt]:
        """Prompts that have no response from `policy` yet."""
        rows = self._rows("SELECT * FROM prompts WHERE id NOT IN "
                          "(SELECT prompt_id FROM responses WHERE policy = ?) ORDER BY id", [policy])
        return [Prompt(**row) for row in rows]

    # demonstrations

    def add_demo(self, prompt: str, response: str, system: str | None = None) -> int:
        """Add a demonstration; a blank `system` counts as none."""
        now = _now()
        return self._insert("demonstrations", {
            "prompt": _text(prompt, "prompt"), "response": _text(response, "response"),
            "system": system if system and system.strip() else None, "created": now, "updated": now,
        })

    def update_demo(self, id: int, prompt: str, response: str) -> None:
        row = {"prompt": _text(prompt, "prompt"), "response": _text(response, "response"), "updated": _now()}
        with self.transaction():
            self._get("demonstrations", id, "demonstration")
            self.db["demonstrations"].update(id, row)

    def delete_demo(self, id: int) -> Demo:
        """Delete a demonstration and return it, for `restore_demo` (undo)."""
        with self.transaction():
            demo = Demo(**self._get("demonstrations", id, "demonstration"))
            self.db.execute("DELETE FROM demonstrations WHERE id = ?", [id])
        return demo

    def restore_demo(self, demo: Demo) -> None:
        """Put back a deleted demonstration under its old id."""
        with self.transaction():
            if self._rows("SELECT id FROM demonstrations WHERE id = ?", [demo.id]):
                raise ValueError(f"demonstration {demo.id} already exists")
            self.db["demonstrations"].insert(dataclasses.asdict(demo))

    def demos(self, search: str | None = None) -> list[Demo]:
        """All demonstrations, or those whose prompt or response contains `search` (any case)."""
        demos = [Demo(**row) for row in self._rows("SELECT * FROM demonstrations ORDER BY id")]
        if not search:
            return demos
        needle = search.casefold()
        return [d for d in demos if needle in d.prompt.casefold() or needle in d.response.casefold()]

    # responses

    def add_response(self, prompt_id: int, text: str, policy: str, settings: dict | None = None) -> int:
        """Record one answer to a prompt; `policy` is "base", "imported" or a run id as text."""
        if not isinstance(text, str):
            raise ValueError(f"response text must be a string, got {text!r}")
        row = {"prompt_id": prompt_id, "text": text, "policy": _text(policy, "policy"),
               "settings": json.dumps(settings or {}), "created": _now()}
        with self.transaction():
            self._get("prompts", prompt_id, "prompt")
            return self._insert("responses", row)

    def responses(self, prompt_id: int | None = None, policy: str | None = None) -> list[Response]:
        rows = self._rows("SELECT * FROM responses WHERE (:p IS NULL OR prompt_id = :p) "
                          "AND (:policy IS NULL OR policy = :policy) ORDER BY id",
                          {"p": prompt_id, "policy": policy})
        return [Response(**{**row, "settings": json.loads(row["settings"])}) for row in rows]

    # comparisons

    def add_comparison(self, prompt_id: int, response_ids: Sequence[int]) -> int:
        """Group 2..K responses to the same prompt for ranking."""
        ids = list(response_ids)
        if len(ids) < 2:
            raise ValueError(f"a comparison needs at least 2 responses, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"a comparison lists each response once, got {ids}")
        with self.transaction():
            self._get("prompts", prompt_id, "prompt")
            for rid in ids:
                answered = self._get("responses", rid, "response")["prompt_id"]
                if answered != prompt_id:
                    raise ValueError(f"response {rid} answers prompt {answered}, not prompt {prompt_id}")
            return self._insert("comparisons", {"prompt_id": prompt_id, "response_ids": json.dumps(ids),
                                                "created": _now()})

    def _comparisons(self, where: str = "", params: Sequence = ()) -> list[Comparison]:
        rows = self._rows("SELECT c.id, c.prompt_id, p.text AS prompt, c.response_ids, c.created "
                          f"FROM comparisons c JOIN prompts p ON p.id = c.prompt_id {where} ORDER BY c.id",
                          params)
        for row in rows:
            row["response_ids"] = json.loads(row["response_ids"])
        wanted = [rid for row in rows for rid in row["response_ids"]]
        texts = dict(self.db.execute("SELECT id, text FROM responses WHERE id IN "
                                     "(SELECT value FROM json_each(?))", [json.dumps(wanted)]).fetchall())
        return [Comparison(**row, responses=[texts[i] for i in row["response_ids"]]) for row in rows]

    def comparison(self, id: int) -> Comparison:
        found = self._comparisons("WHERE c.id = ?", [id])
        if not found:
            raise LookupError(f"no comparison with id {id}")
        return found[0]

    def comparisons(self) -> list[Comparison]:
        return self._comparisons()

    def unranked_comparisons(self, annotator: str | None = None) -> list[Comparison]:
        """Comparisons nobody (or not `annotator`) has ranked, skipped or marked all bad."""
        return self._comparisons("WHERE c.id NOT IN (SELECT comparison_id FROM rankings "
                                 "WHERE ? IS NULL OR annotator = ?)", [annotator, annotator])

    # rankings

    def add_ranking(self, comparison_id: int, order: list[list[int]], annotator: str = "me",
                    status: str = "ranked") -> int:
        """Record a best-first ranking such as [[0], [2, 1]] (ties share a group).

        `status` "skip" or "all_bad" takes `order=[]`. Replaces this annotator's earlier
        ranking of the same comparison.
        """
        if status not in RANKING_STATUSES:
            raise ValueError(f"ranking status must be one of {', '.join(RANKING_STATUSES)}, got {status!r}")
        annotator = _text(annotator, "annotator")
        with self.label_transaction():
            comparison = self._get("comparisons", comparison_id, "comparison")
            if status == "ranked":
                check_order(order, len(json.loads(comparison["response_ids"])))
            elif order:
                raise ValueError(f'a "{status}" ranking takes no order, got {order!r}')
            self.db.execute("DELETE FROM rankings WHERE comparison_id = ? AND annotator = ?",
                            [comparison_id, annotator])
            return self._insert("rankings", {"comparison_id": comparison_id, "annotator": annotator,
                                             "order": json.dumps(order), "status": status,
                                             "created": _now()})

    def delete_ranking(self, id: int) -> None:
        with self.label_transaction():
            self._get("rankings", id, "ranking")
            self.db.execute("DELETE FROM rankings WHERE id = ?", [id])

    def restore_ranking(self, ranking: Ranking) -> None:
        """Put back a deleted ranking under its old id and time (undo of a ranking that replaced it)."""
        with self.label_transaction():
            if self._rows("SELECT id FROM rankings WHERE id = ?", [ranking.id]):
                raise ValueError(f"ranking {ranking.id} already exists")
            self.db["rankings"].insert({**dataclasses.asdict(ranking), "order": json.dumps(ranking.order)})

    def rankings(self, comparison_id: int | None = None) -> list[Ranking]:
        """Rankings ordered by comparison id, then ranking id."""
        rows = self._rows("SELECT * FROM rankings WHERE ? IS NULL OR comparison_id = ? "
                          "ORDER BY comparison_id, id", [comparison_id, comparison_id])
        return [Ranking(**{**row, "order": json.loads(row["order"])}) for row in rows]

    def agreement(self, comparison_id: int) -> float | None:
        """Fraction of annotator pairs with the same top group; None with fewer than 2 rankers."""
        self._get("comparisons", comparison_id, "comparison")
        tops = [set(r.order[0]) for r in self.rankings(comparison_id) if r.status == "ranked"]
        pairs = list(itertools.combinations(tops, 2))
        return sum(a == b for a, b in pairs) / len(pairs) if pairs else None

    def preference_pairs(self) -> list[PreferencePair]:
        """Every (chosen, rejected) pair implied by the rankings; each ranking's pairs weigh 1 in all."""
        comparisons = {c.id: c for c in self._comparisons()}
        pairs = []
        for ranking in self.rankings():
            if ranking.status == "ranked":
                c = comparisons[ranking.comparison_id]
                pairs += [PreferencePair(c.prompt, c.responses[a], c.responses[b], weight, c.id)
                          for a, b, weight in pairs_from_ranking(ranking.order)]
        return pairs

    # runs

    def create_run(self, kind: str, config: dict, parent: int | None = None) -> int:
        """Start a run with status "running"; non-JSON config values are stored as text."""
        run_kind(kind)  # refuses a kind the registry does not know
        with self.transaction():
            if parent is not None:
                self._get("runs", parent, "run")
            return self._insert("runs", {"kind": kind, "config": json.dumps(config, default=str),
                                         "status": "running", "parent": parent, "step": 0,
                                         "final_metrics": "{}", "created": _now()})

    def update_run(self, id: int, *, status: str | None = None, artifact: str | Path | None = None,
                   final_metrics: dict | None = None, step: int | None = None,
                   error: str | None = None) -> None:
        """Change the given fields; a status other than "running" also stamps `finished`."""
        row: dict = {}
        if status is not None:
            if status not in RUN_STATUSES:
                raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
            row |= {"status": status, "finished": None if status == "running" else _now()}
        if artifact is not None:
            if artifact_in_run(id, str(artifact)) != str(artifact):
                raise ValueError(f"run {id}'s artifact must be a path inside runs/{id}/ relative to the project "
                                 f"root, got {str(artifact)!r}")
            row["artifact"] = str(artifact)
        if final_metrics is not None:
            row["final_metrics"] = json.dumps(final_metrics, default=str)
        if step is not None:
            row["step"] = step
        if error is not None:
            row["error"] = error
        with self.transaction():
            self._get("runs", id, "run")
            if row:
                self.db["runs"].update(id, row)

    def run(self, id: int) -> Run:
        return _run(self._get("runs", id, "run"))

    def runs(self, kind: str | None = None) -> list[Run]:
        rows = self._rows("SELECT * FROM runs WHERE ? IS NULL OR kind = ? ORDER BY id", [kind, kind])
        return [_run(row) for row in rows]

    def resolve_run(self, ref: str | int) -> Run:
        """The run named by "12" or "latest:KIND" (the newest finished run of that kind)."""
        ref = str(ref).strip()
        if ref.isascii() and ref.isdecimal():
            if int(ref) > MAX_ID:
                raise LookupError(f"no run with id {ref}")
            return self.run(int(ref))
        kind = ref.removeprefix("latest:")
        if kind == ref or kind not in KINDS:
            raise LookupError(f"cannot read run reference {ref!r}: use a run id such as 12, "
                              f"or latest:KIND with KIND one of {', '.join(KINDS)}")
        rows = self._rows("SELECT * FROM runs WHERE kind = ? AND status = 'finished' "
                          "ORDER BY id DESC LIMIT 1", [kind])
        if not rows:
            raise LookupError(f"no finished {kind} run yet: train one first")
        return _run(rows[0])

    def add_metrics(self, run_id: int, step: int, values: dict[str, float]) -> None:
        now = time.time()
        with self.transaction():
            self._get("runs", run_id, "run")
            self.db["metrics"].insert_all([{"run_id": run_id, "step": step, "name": name,
                                            "value": float(value), "time": now}
                                           for name, value in values.items()])

    def metrics(self, run_id: int) -> list[dict]:
        """Rows {step, name, value, time} in the order recorded (NaN comes back as NaN)."""
        rows = self._rows("SELECT step, name, value, time FROM metrics WHERE run_id = ? ORDER BY rowid",
                          [run_id])
        return [{**row, "value": math.nan if row["value"] is None else row["value"]} for row in rows]

    def add_samples(self, run_id: int, step: int, samples: list[dict]) -> None:
        """Record generated samples {prompt, response, reward (optional)} at `step`."""
        with self.transaction():
            self._get("runs", run_id, "run")
            self.db["samples"].insert_all([{"run_id": run_id, "step": step, "prompt": s["prompt"],
                                            "response": s["response"], "reward": s.get("reward")}
                                           for s in samples])

    def forget_after(self, run_id: int, step: int) -> None:
        """Drop metrics and samples recorded after `step` (a resumed run repeats those steps)."""
        with self.transaction():
            self.db.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", [run_id, step])
            self.db.execute("DELETE FROM samples WHERE run_id = ? AND step > ?", [run_id, step])

    def samples(self, run_id: int) -> list[dict]:
        """Rows {step, prompt, response, reward} in the order recorded."""
        return self._rows("SELECT step, prompt, response, reward FROM samples WHERE run_id = ? "
                          "ORDER BY rowid", [run_id])

    def counts(self) -> dict[str, int]:
        """Totals for a status line; a comparison is "ranked" once anyone ranked, skipped or rejected it."""
        comparisons = self._count("SELECT count(*) FROM comparisons")
        ranked = self._count("SELECT count(DISTINCT comparison_id) FROM rankings")
        return {
            "prompts": self._count("SELECT count(*) FROM prompts"),
            "demonstrations": self._count("SELECT count(*) FROM demonstrations"),
            "comparisons": comparisons,
            "ranked": ranked,
            "unranked": comparisons - ranked,
            "rankings": self._count("SELECT count(*) FROM rankings"),
            "pairs": len(self.preference_pairs()),
            "runs": self._count("SELECT count(*) FROM runs"),
        }


def _connect(path: Path | None, timeout: float, read_only: bool) -> sqlite3.Connection:
    """A connection; read-only ones cannot write (nor create -wal/-shm files where the folder forbids it)."""
    if path is None:
        return sqlite3.connect(":memory:", timeout=timeout)
    if not read_only:
        return sqlite3.connect(path, timeout=timeout)
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}"
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:  # a WAL database in a read-only folder: no -shm can be made
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout)


def _run(row: dict) -> Run:
    return Run(**{**row, "config": json.loads(row["config"]),
                  "final_metrics": json.loads(row["final_metrics"])})
