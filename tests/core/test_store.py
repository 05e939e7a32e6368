import dataclasses
import math
import sqlite3
from pathlib import Path

import pytest

from studio.core import migrations
from studio.core.migrations import SCHEMA_VERSION
from studio.core.records import PreferencePair
from studio.core.store import Store, StoreError


def test_prompts_are_stripped_and_deduplicated(store):
    first = store.add_prompt("  Hello  ")
    assert store.add_prompt("Hello") == first
    assert [p.text for p in store.prompts()] == ["Hello"]
    assert store.prompt(first).text == "Hello"


@pytest.mark.parametrize("text", ["", "   \n", None, 3])
def test_empty_prompt_is_refused(store, text):
    with pytest.raises(ValueError, match="prompt"):
        store.add_prompt(text)


def test_unknown_ids_raise_lookup_error(store):
    with pytest.raises(LookupError, match="no prompt with id 7"):
        store.prompt(7)
    with pytest.raises(LookupError, match="comparison"):
        store.comparison(1)
    with pytest.raises(LookupError, match="comparison"):
        store.add_ranking(1, [[0], [1]])
    with pytest.raises(LookupError, match="run"):
        store.add_metrics(1, 0, {"loss": 1.0})


def test_demo_update_delete_restore_search(store):
    kept = store.add_demo("Say hi", "Hi!", system="Be brief")
    gone = store.add_demo("Count", "1 2 3", system="  ")
    store.update_demo(kept, "Say hello", "Hello!")
    assert store.demos()[0].prompt == "Say hello" and store.demos()[0].system == "Be brief"
    assert store.demos()[1].system is None
    demo = store.delete_demo(gone)
    assert [d.id for d in store.demos()] == [kept]
    newer = store.add_demo("Other", "x")
    assert newer > gone  # ids are never reused, so undo cannot collide
    store.restore_demo(demo)
    assert [d.id for d in store.demos()] == [kept, gone, newer]
    assert [d.id for d in store.demos(search="HELLO")] == [kept]
    with pytest.raises(ValueError, match="already exists"):
        store.restore_demo(demo)
    with pytest.raises(ValueError, match="response"):
        store.add_demo("p", "")
    with pytest.raises(LookupError):
        store.update_demo(999, "p", "r")


def test_comparison_carries_texts(store, comparison):
    c = store.comparison(comparison)
    assert (c.prompt, c.responses, len(c.response_ids)) == ("Q", ["a", "b", "c"], 3)
    assert store.responses(c.prompt_id, "base")[0].settings == {"temperature": 0.7}


def test_comparison_rejects_bad_responses(store):
    p, q = store.add_prompt("P"), store.add_prompt("Q")
    a, b = store.add_response(p, "a", "base"), store.add_response(q, "b", "base")
    with pytest.raises(ValueError, match="at least 2"):
        store.add_comparison(p, [a])
    with pytest.raises(ValueError, match="once"):
        store.add_comparison(p, [a, a])
    with pytest.raises(ValueError, match=f"answers prompt {q}"):
        store.add_comparison(p, [a, b])
    with pytest.raises(LookupError, match="response"):
        store.add_comparison(p, [a, 99])
    assert store.comparisons() == []


@pytest.mark.parametrize("order, status, message", [
    ([[0], [1]], "ranked", "exactly once"),
    ([[0], [1], [3]], "ranked", "exactly once"),
    ([[0], [1], [1], [2]], "ranked", "exactly once"),
    ([], "ranked", "exactly once"),
    ([[0], [1], [2]], "skip", "takes no order"),
    ([[0], [1], [2]], "maybe", "status"),
])
def test_bad_rankings_are_refused(store, comparison, order, status, message):
    with pytest.raises(ValueError, match=message):
        store.add_ranking(comparison, order, status=status)
    assert store.rankings() == []


def test_unranked_and_rankings_per_annotator(store, comparison):
    assert [c.id for c in store.unranked_comparisons()] == [comparison]
    store.add_ranking(comparison, [[1], [0, 2]], annotator="ann")
    assert store.unranked_comparisons() == []
    assert [c.id for c in store.unranked_comparisons(annotator="bob")] == [comparison]
    store.add_ranking(comparison, [], annotator="bob", status="skip")
    assert store.unranked_comparisons(annotator="bob") == []
    replaced = store.add_ranking(comparison, [[0], [1], [2]], annotator="ann")
    rankings = [(r.annotator, r.id) for r in store.rankings(comparison)]
    assert rankings == [("bob", replaced - 1), ("ann", replaced)]
    store.delete_ranking(replaced)
    assert [r.annotator for r in store.rankings()] == ["bob"]


def test_a_replaced_ranking_is_restored_as_it_was(store, comparison):
    store.add_ranking(comparison, [[1], [0, 2]], annotator="ann")
    [first] = store.rankings(comparison)
    second = store.add_ranking(comparison, [[0], [1], [2]], annotator="ann")
    with pytest.raises(ValueError, match=f"ranking {second} already exists"):
        store.restore_ranking(dataclasses.replace(first, id=second))
    store.delete_ranking(second)
    store.restore_ranking(first)
    assert store.rankings(comparison) == [first]  # same id, order and time


def test_preference_pairs_weighted_per_ranking(store, comparison):
    store.add_ranking(comparison, [[2], [0, 1]], annotator="ann")
    store.add_ranking(comparison, [], annotator="bob", status="all_bad")
    assert store.preference_pairs() == [
        PreferencePair("Q", "c", "a", 0.5, comparison),
        PreferencePair("Q", "c", "b", 0.5, comparison),
    ]


def test_agreement_on_top_choice(store, comparison):
    assert store.agreement(comparison) is None
    store.add_ranking(comparison, [[0], [1], [2]], annotator="a")
    assert store.agreement(comparison) is None
    store.add_ranking(comparison, [[0], [2, 1]], annotator="b")
    store.add_ranking(comparison, [[1], [0], [2]], annotator="c")
    assert store.agreement(comparison) == pytest.approx(1 / 3)


def test_prompts_without_responses(store):
    p, q = store.add_prompt("P"), store.add_prompt("Q")
    store.add_response(p, "a", "7")
    assert [x.id for x in store.prompts_without_responses("7")] == [q]
    assert [x.id for x in store.prompts_without_responses("base")] == [p, q]


def test_counts(store, comparison):
    store.add_demo("p", "r")
    store.add_ranking(comparison, [[0], [1], [2]])
    store.create_run("sft", {})
    assert store.counts() == {"prompts": 1, "demonstrations": 1, "comparisons": 1, "ranked": 1,
                              "unranked": 0, "rankings": 1, "pairs": 3, "runs": 1}


def test_runs_lifecycle_and_resolve(store):
    first = store.create_run("sft", {"lr": 1e-4, "out": Path("/x")})
    assert store.run(first).config == {"lr": 1e-4, "out": "/x"}
    with pytest.raises(LookupError, match="no finished sft run"):
        store.resolve_run("latest:sft")
    store.update_run(first, status="finished", artifact="runs/1/adapter", final_metrics={"loss": 0.5}, step=10)
    second = store.create_run("sft", {}, parent=first)
    store.update_run(second, status="failed", error="boom")
    run = store.resolve_run("latest:sft")
    assert (run.id, run.artifact, run.final_metrics, run.step) == (first, "runs/1/adapter", {"loss": 0.5}, 10)
    assert run.finished is not None and store.run(second).error == "boom"
    assert store.resolve_run(str(second)).parent == first
    assert [r.id for r in store.runs("sft")] == [first, second] and store.runs("dpo") == []
    for bad in ("latest:ppo", "latest:nope", "newest", "99"):
        with pytest.raises(LookupError):
            store.resolve_run(bad)
    with pytest.raises(ValueError, match="kind"):
        store.create_run("rlhf", {})
    with pytest.raises(ValueError, match="status"):
        store.update_run(first, status="done")


def test_metrics_and_samples(store):
    run = store.create_run("ppo", {})
    store.add_metrics(run, 1, {"loss": 0.5, "kl": float("nan")})
    store.add_metrics(run, 2, {"loss": float("inf")})
    rows = store.metrics(run)
    assert [(r["step"], r["name"]) for r in rows] == [(1, "loss"), (1, "kl"), (2, "loss")]
    assert math.isnan(rows[1]["value"]) and rows[2]["value"] == math.inf
    store.add_samples(run, 1, [{"prompt": "p", "response": "r", "reward": 0.25},
                               {"prompt": "p", "response": "s"}])
    assert store.samples(run) == [{"step": 1, "prompt": "p", "response": "r", "reward": 0.25},
                                  {"step": 1, "prompt": "p", "response": "s", "reward": None}]


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(ValueError):
        with store.transaction():
            store.add_prompt("kept?")
            store.add_prompt("")
    assert store.prompts() == []


def test_file_store_survives_restart_in_wal_mode(tmp_path):
    path = tmp_path / "studio.db"
    with Store(path) as s:
        assert s.db.journal_mode == "wal"
        assert s.schema_version == SCHEMA_VERSION
        p = s.add_prompt("P")
        ids = [s.add_response(p, t, "base") for t in "ab"]
        c = s.add_comparison(p, ids)
        s.add_ranking(c, [[1], [0]])
        s.add_demo("d", "r")
        run = s.create_run("dpo", {"beta": 0.1})
        s.add_metrics(run, 3, {"loss": 0.1})
    # a second connection sees every write before the first is even reopened
    assert sqlite3.connect(path).execute("SELECT count(*) FROM rankings").fetchone() == (1,)
    with Store(path) as s:
        assert s.counts()["pairs"] == 1 and s.demos()[0].response == "r"
        assert s.run(run).config == {"beta": 0.1} and s.metrics(run)[0]["value"] == 0.1
        assert s.schema_version == SCHEMA_VERSION


def test_a_new_migration_runs_once_on_open(tmp_path, monkeypatch):
    path = tmp_path / "studio.db"
    Store(path).close()
    calls = []

    def add_note_column(db):
        calls.append(db)
        db.execute("ALTER TABLE prompts ADD COLUMN note TEXT")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, add_note_column])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for _ in range(2):
        with Store(path) as s:
            assert s.schema_version == SCHEMA_VERSION + 1
            assert "note" in s.db["prompts"].columns_dict
    assert len(calls) == 1


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "studio.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_unopenable_path_names_the_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="a_file"):
        Store(blocker / "studio.db")
    with pytest.raises(StoreError, match="a_file"):
        Store(blocker)  # not a database


def test_locked_database_gives_store_error(tmp_path):
    path = tmp_path / "studio.db"
    with Store(path, timeout=0.05) as s:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="studio.db.*locked"):
                s.add_prompt("P")
        finally:
            other.execute("ROLLBACK")
            other.close()
        s.add_prompt("P")
        assert len(s.prompts()) == 1


def test_forget_after_drops_only_later_steps(store):
    run = store.create_run("ppo", {})
    for step in (1, 2, 3):
        store.add_metrics(run, step, {"reward": float(step)})
        store.add_samples(run, step, [{"prompt": "p", "response": f"r{step}", "reward": 0.0}])
    store.forget_after(run, 2)
    assert [m["step"] for m in store.metrics(run)] == [1, 2]
    assert [s["response"] for s in store.samples(run)] == ["r1", "r2"]
