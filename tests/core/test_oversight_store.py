import pytest

from studio.core import oversight_store as ov
from studio.core.monitor import Alarm
from studio.core.store import Store


@pytest.fixture
def store():
    with Store(None) as s:
        yield s


def comparison(store) -> int:
    pid = store.add_prompt("p")
    return store.add_comparison(pid, [store.add_response(pid, t, "base") for t in ("a", "bb")])


def test_alarms_once_per_signal_and_forgotten_after_a_checkpoint(store):
    run = store.create_run("ppo", {})
    ov.add_alarm(store, run, Alarm("kl", 3, 5, "m", "a"))
    ov.add_alarm(store, run, Alarm("kl", 4, 6, "again", "a"))
    ov.add_alarm(store, run, Alarm("entropy", 8, 9, "m", "a"))
    assert [(r, a.signal, a.began) for r, a in ov.alarms(store)] == [(run, "kl", 3), (run, "entropy", 8)]
    ov.forget_alarms_after(store, run, 7)
    assert [a.signal for _, a in ov.alarms(store, run)] == ["kl"]


def test_principles_deduplicated_and_refuse_blank(store):
    a = ov.add_principle(store, "  prefer short answers ")
    assert ov.add_principle(store, "prefer short answers") == a
    with pytest.raises(ValueError):
        ov.add_principle(store, "  ")
    ov.delete_principle(store, a)
    assert ov.principles(store) == []
    with pytest.raises(LookupError):
        ov.delete_principle(store, a)


def test_machine_label_keeps_confidence_and_replacing_it_drops_the_old_one(store):
    cid = comparison(store)
    first = ov.add_machine_label(store, cid, [[1], [0]], "rule:longer", 1.0)
    assert ov.confidences(store) == {first: 1.0}
    second = ov.add_machine_label(store, cid, [[0], [1]], "rule:longer", 0.5)
    assert ov.confidences(store) == {second: 0.5}
    with pytest.raises(ValueError):
        ov.add_machine_label(store, cid, [[0], [1]], "ai:x", 1.5)
    assert ov.annotators(store) == ["rule:longer"]


def test_bad_order_leaves_no_confidence_behind(store):
    cid = comparison(store)
    with pytest.raises(ValueError):
        ov.add_machine_label(store, cid, [[0], [5]], "ai:x", 0.9)
    assert ov.confidences(store) == {} and store.rankings() == []


def test_gold_checks_round_trip(store):
    cid = comparison(store)
    run = store.create_run("ppo", {})
    ov.add_gold_check(store, ov.GoldCheck(cid, run, 4, 1, 0.7))
    assert ov.gold_checks(store, run) == [ov.GoldCheck(cid, run, 4, 1, 0.7)]
    assert ov.gold_prompts(store, run, 4) == {"p"} and ov.gold_prompts(store, run, 5) == set()


def test_watch_run_stores_alarms_and_replays_a_resumed_run(store):
    run = store.create_run("ppo", {"target_kl": 1.0})
    stream = [(i, {"reward": 0.1 * i, "kl": 0.5, "entropy": 3.0 if i < 4 else 0.5}) for i in range(1, 7)]
    watch = ov.watch_run(store, run)
    for step, values in stream[:3]:
        store.add_metrics(run, step, values)
        assert watch(step, values) == []
    resumed = ov.watch_run(store, run)   # a fresh monitor that has seen rounds 1-3 from the store
    store.add_metrics(run, 4, stream[3][1])
    assert [a.signal for a in resumed(4, stream[3][1])] == ["entropy"]
    assert [(r, a.signal, a.began) for r, a in ov.alarms(store)] == [(run, "entropy", 4)]


def test_watch_run_ignores_offline_runs(store):
    run = store.create_run("reward", {})
    assert ov.watch_run(store, run)(1, {"entropy": 0.0, "reward": 1.0}) == []


def test_a_run_s_monitor_knows_the_lengths_of_the_answers_the_person_ranked(store):
    ranked_words = []
    for i in range(6):
        pid = store.add_prompt(f"prompt {i}")
        answers = [" ".join(["word"] * (i + 2)), " ".join(["word"] * (3 * i + 4))]
        cid = store.add_comparison(pid, [store.add_response(pid, t, "base") for t in answers])
        if i < 5:
            store.add_ranking(cid, [[0], [1]], "me")
            ranked_words += [i + 2, 3 * i + 4]
        else:  # skipped: its answers (7 and 19 words) are not what the person ranked
            store.add_ranking(cid, [], "me", status="skip")
    run = store.create_run("ppo", {"target_kl": 6.0})
    ordered = sorted(ranked_words)  # [2, 3, 4, 4, 5, 6, 7, 10, 13, 16]: ranks 0 and 9
    assert ov.labelled_words(store) == (ordered[0], ordered[9]) == (2.0, 16.0)
    assert ov.watch_run(store, run).monitor.settings.labelled_words == (2.0, 16.0)
