"""A label the user made waits for another writer instead of failing (issue 23, item 8); imports batch
their writes so that the wait is short."""
import json
import sqlite3
import threading
import time

import pytest

from studio.core import active, store_base
from studio.core.ratings import Ratings, import_ratings
from studio.core.store import Store


def _rate(store: Store, ids: dict) -> None:
    Ratings(store).add(ids["response"], True, "me")


def _unrate(store: Store, ids: dict) -> None:
    Ratings(store).delete(ids["rating"])


def _rank(store: Store, ids: dict) -> None:
    store.add_ranking(ids["comparison"], [[1], [0]], "you")


def _unrank(store: Store, ids: dict) -> None:
    store.delete_ranking(ids["ranking"])


def _repeat(store: Store, ids: dict) -> None:
    active.add_repeat(store, active.Repeat(store.comparison(ids["comparison"]), [1, 0]), [[0], [1]], "me")


def _rating_repeat(store: Store, ids: dict) -> None:
    active.add_rating_repeat(store, ids["response"], False, "me")


def _labels(path) -> list[int]:
    with Store(path) as store:
        return [store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("ratings", "rankings", "repeats", "rating_repeats")]


@pytest.mark.parametrize("write", [_rate, _unrate, _rank, _unrank, _repeat, _rating_repeat])
def test_a_label_made_while_another_connection_holds_the_write_lock_lands(tmp_path, monkeypatch, write):
    path = tmp_path / "studio.db"
    with Store(path) as store:
        p = store.add_prompt("Q")
        responses = [store.add_response(p, text, "base") for text in "ab"]
        ids = {"response": responses[0], "comparison": store.add_comparison(p, responses)}
        ids["rating"] = Ratings(store).add(responses[1], False, "you")
        ids["ranking"] = store.add_ranking(ids["comparison"], [[0], [1]], "me")
    before = _labels(path)
    monkeypatch.setattr(store_base, "LABEL_PATIENCE_S", 60.0)
    locked, waiting = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # an import or a training run writing meanwhile
        with sqlite3.connect(path, isolation_level=None) as other:
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            waiting.wait(60)
            time.sleep(0.5)  # ten times the store's own timeout: only the label's patience bridges it
            other.execute("COMMIT")

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        locked.wait(60)
        with Store(path, timeout=0.05) as store:  # the GUI's store: impatient, but not for labels
            store.db.conn.set_trace_callback(lambda sql: sql.startswith("BEGIN IMMEDIATE") and waiting.set())
            write(store, ids)
    finally:
        waiting.set()
        holder.join()
    after = _labels(path)
    assert after != before and sum(after) - sum(before) in (1, -1)


def test_a_ratings_import_writes_in_batches_not_a_statement_a_line(tmp_path):
    """20k lines once took ~18 s of write lock, one insert a line; now a few statements in all."""
    src = tmp_path / "r.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"q{i % 7}", "completion": f"c{i}", "label": i % 3 == 0}) + "\n"
                           for i in range(300)))
    with Store(tmp_path / "studio.db") as store:
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        assert import_ratings(store, src) == 300
        store.db.conn.set_trace_callback(None)
        per_line = [sql for sql in statements if not sql.startswith(("INSERT", "DELETE"))]  # executemany's rows
        assert len(per_line) < 40  # a few per prompt and per batch; per line it was over 1000
        assert [(r.label, store.responses()[r.response_id - 1].text) for r in Ratings(store).list()][:3] == [
            (True, "c0"), (False, "c1"), (False, "c2")]
        assert import_ratings(store, src) == 300 and len(Ratings(store).list()) == 300
        assert len(store.responses()) == 300
