"""Rounds planned without torch: the mix of a round's answers, the queue's head, the chain of rounds, the stop rule at
its boundary, the gold checks as training data and the round chart's points."""
import pytest

from studio.core import oversight_store as ov
from studio.core import rounds as plan
from studio.core.active import put_at_head, queue, queue_head
from studio.core.ratings import training_pairs


def test_k_answers_split_half_from_the_policy_half_from_its_start():
    assert [plan.split_k(k) for k in (2, 3, 4, 5)] == [(1, 1), (2, 1), (2, 2), (3, 2)]
    with pytest.raises(ValueError, match="at least 2 answers"):
        plan.split_k(1)


def test_a_round_comparison_alternates_sources_and_keeps_each_text_once():
    kept = plan.mix(["the policy says one", "the policy says two"], ["the start says one", "the policy says two"])
    assert [(a.text, a.source) for a in kept] == [("the policy says one", "policy"), ("the start says one", "start"),
                                                  ("the policy says two", "policy")]


@pytest.mark.parametrize("policy, start", [
    (["same answer for all", "same answer for all"], ["same answer for all ", "same answer for all"]),  # all alike
    (["Breakfast.", "The sun."], ["", "no no no no"]),  # all degenerate: short, empty, repeated
    (["FrulebyFretled Flxzqwrt Quuuuux.", "Ok."], ["Don't ask.", "Nope."]),  # non-words and short ones
])
def test_a_comparison_that_teaches_nothing_is_dropped(policy, start):
    assert plan.mix(policy, start) is None


def test_one_sound_answer_among_degenerate_ones_keeps_the_comparison():
    kept = plan.mix(["Breakfast."], ["A compass needle lines up with the magnetic field."])
    assert [a.source for a in kept] == ["policy", "start"]


def _comparisons(store, n: int) -> list[int]:
    ids = []
    for i in range(n):
        pid = store.add_prompt(f"question {i}")
        ids.append(store.add_comparison(pid, [store.add_response(pid, f"answer {i}{j}", "base") for j in "ab"]))
    return ids


@pytest.mark.parametrize("order", ["arrival", "uncertain"])
def test_a_rounds_comparisons_go_to_the_head_of_the_queue_newest_round_first(store, order):
    old = _comparisons(store, 3)
    first_round, second_round = _comparisons(store, 2), _comparisons(store, 2)
    put_at_head(store, first_round)
    put_at_head(store, second_round[::-1])
    assert queue_head(store) == second_round[::-1] + first_round
    assert [c.id for c in queue(store, "me", order)] == second_round[::-1] + first_round + old
    store.add_ranking(second_round[1], [[0], [1]], "me")  # a ranked one leaves the queue, the others keep their place
    assert [c.id for c in queue(store, "me", order)] == [second_round[0]] + first_round + old


@pytest.mark.parametrize("rates, stops", [
    ([0.6], False), ([0.6, None], False), ([None, 0.6], False),
    ([0.6, 0.61], False), ([0.6, 0.6], True), ([0.6, 0.55], True), ([0.4, 0.7, 0.7], True), ([0.7, 0.4, 0.5], False),
])
def test_the_round_stops_once_the_gold_win_rate_stops_rising(rates, stops):
    reason = plan.stop_reason(rates)
    assert (reason is not None) == stops
    if stops:
        assert f"round {len(rates)}" in reason and "stopped rising" in reason


def _online_run(store, start: int | None = None, kl: float = 0.0, reward: float = 0.0) -> int:
    run = store.create_run("rloo", {"_init": "base", "_reward": "1", **({"_start": str(start)} if start else {})})
    store.add_metrics(run, 1, {"kl": kl / 2, "reward": reward / 2})
    store.add_metrics(run, 2, {"kl": kl, "reward": reward})
    store.update_run(run, status="finished", artifact=f"runs/{run}/adapter")
    return run


def _gold(store, run: int, wins: list[bool]) -> list[int]:
    """Gold checks of `run`'s round 2 (policy first), ranked by "me": the policy's answer wins where `wins`."""
    made = []
    for i, win in enumerate(wins):
        pid = store.add_prompt(f"gold {run}.{i}")
        cid = store.add_comparison(pid, [store.add_response(pid, f"policy {run}.{i}", str(run)),
                                         store.add_response(pid, f"start {run}.{i}", "base")])
        ov.add_gold_check(store, ov.GoldCheck(cid, run, 2, 0, 1.5))
        store.add_ranking(cid, [[0], [1]] if win else [[1], [0]], "me")
        made.append(cid)
    return made


def test_a_chain_of_rounds_its_chart_points_and_its_stop(store):
    first = _online_run(store, kl=1.0, reward=0.5)
    second = _online_run(store, start=first, kl=3.0, reward=1.5)
    _gold(store, first, [True, False])  # 50 %
    _gold(store, second, [True, True, False, False])  # 50 %: not above round 1
    assert [r.id for r in plan.chain(store, store.run(second))] == [first, second]
    assert plan.round_points(store, store.run(second)) == [plan.RoundPoint(1, first, 1.0, 0.5, 0.5),
                                                           plan.RoundPoint(2, second, 3.0, 1.5, 0.5)]
    with pytest.raises(ValueError, match=r"stopped rising \(50% in round 1, 50% in round 2\)"):
        plan.check_further(store, store.run(second))
    plan.check_further(store, store.run(first))  # one round: nothing to compare yet


def test_a_rising_win_rate_lets_the_next_round_go(store):
    first = _online_run(store)
    second = _online_run(store, start=first)
    _gold(store, first, [True, False])
    _gold(store, second, [True, True, True, False])  # 75 % after 50 %
    plan.check_further(store, store.run(second))


def test_ranked_gold_checks_are_training_data(store):
    run = _online_run(store)
    [gold] = _gold(store, run, [False])
    pairs = [p for p in training_pairs(store) if p.comparison_id == gold]
    assert [(p.chosen, p.rejected) for p in pairs] == [(f"start {run}.0", f"policy {run}.0")]


def test_a_prepared_round_waits_for_its_training(store):
    run = _online_run(store)
    assert plan.next_action(store, store.run(run)) == "sample"
    plan.record_prepared(store, run, [5, 6], [7])
    plan.record_prepared(store, run, [8], [])
    assert plan.prepared(store, run) == {"run": run, "comparisons": [5, 6, 8], "gold": [7]}
    assert plan.next_action(store, store.run(run)) == "train"
    _online_run(store, start=run)
    assert plan.next_action(store, store.run(run)) == "sample"


def test_online_run_names_the_latest_finished_online_run_and_refuses_others(store):
    sft = store.create_run("sft", {})
    with pytest.raises(ValueError, match="train one first"):
        plan.online_run(store, None)
    first, second = _online_run(store), _online_run(store)
    store.create_run("rloo", {})  # still running
    assert plan.online_run(store, None).id == second and plan.online_run(store, str(first)).id == first
    with pytest.raises(ValueError, match=f"run {sft} is a running sft run"):
        plan.online_run(store, str(sft))
