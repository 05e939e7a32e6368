"""What an alarm offers, without torch: the comparisons it names to label next (which answers, how many, the first
few, their prompts), the prompts a round samples first, the round it offers for its run, and K as the project uses
it."""
import pytest

from studio.core import oversight_store as ov
from studio.core import rounds as plan
from studio.core.monitor import ROUND_SIGNALS, HackingMonitor, MonitorSettings
from studio.core.store import Store
from tests.core.test_rounds import _gold, _online_run

HEALTHY = [("How does a compass work?", "A compass needle is a magnet that lines up with the field."),
           ("Why is the sky blue?", "Air scatters blue light more than red light, so the sky looks blue."),
           ("How do fish breathe?", "Fish take oxygen from the water through their gills.")]
CURT = [("Explain how a rainbow forms.", "Breakfast."), ("What is a volcano?", "Don't ask."),
        ("Why do leaves fall?", "Nope.")]
# two answers a round; round 2 brings the first curt one, round 3 two more: 3 of the window's 6 under 3 words
ROUNDS = [HEALTHY[:2], [HEALTHY[2], CURT[0]], CURT[1:]]


def _rows(pairs) -> list[dict]:
    return [{"prompt": p, "response": a} for p, a in pairs]


def test_a_collapse_alarm_names_the_curt_answers_and_their_prompts():
    monitor = HackingMonitor(MonitorSettings())
    for round_, pairs in enumerate(ROUNDS, 1):
        monitor.observe_samples(round_, _rows(pairs))
    [alarm] = monitor.alarms
    assert alarm.signal == "collapse" and alarm.signal in ROUND_SIGNALS
    assert alarm.prompts == tuple(p for p, _ in CURT)
    label_next = alarm.action.split(". Label next: ")[1]
    assert label_next == ("3 of the policy's 6 answers of rounds 1-3, those under 3 words, each against the starting "
                          "policy's answer to its prompt (3 prompts, which a round samples first): "
                          '"Explain how a rainbow forms." -> "Breakfast."; "What is a volcano?" -> "Don\'t ask."; '
                          '"Why do leaves fall?" -> "Nope."')
    assert "prompts" not in alarm.to_dict()  # not stored: replayed from the run's samples


@pytest.mark.parametrize("sign, side", [(1, "over"), (-1, "under")])
def test_a_length_alarm_names_the_answers_at_the_end_the_reward_prizes(sign, side):
    monitor = HackingMonitor(MonitorSettings())
    rows = _rows([HEALTHY[2], CURT[1], HEALTHY[0]])  # 9, 2 and 12 words: the median is 9
    for round_ in range(1, 4):  # the samples first: the alarm fires on round 3's metrics and names round 3's samples
        monitor.observe_samples(round_, rows)
        monitor.observe(round_, {"reward": 0.1 * round_, "reward_length_corr": sign * 0.8})
    [alarm] = [a for a in monitor.alarms if a.signal == "length"]
    named = {1: HEALTHY[0], -1: CURT[1]}[sign]
    assert f"Label next: 1 of the policy's 3 round-3 answers, those {side} 9 words, each against" in alarm.action
    assert alarm.action.endswith(f'(1 prompt, which a round samples first): "{named[0]}" -> "{named[1]}"')
    assert alarm.prompts == (named[0],)


def test_an_entropy_alarm_offers_no_round_and_names_nothing():
    monitor = HackingMonitor(MonitorSettings())
    monitor.observe_samples(1, _rows(HEALTHY))
    monitor.observe(1, {"entropy": 3.0})
    [alarm] = monitor.observe(2, {"entropy": 0.5})
    assert alarm.signal == "entropy" and "entropy" not in ROUND_SIGNALS
    assert alarm.prompts == () and "Label next" not in alarm.action


def test_the_flagged_prompts_are_replayed_from_the_runs_samples():
    store = Store(None)
    run = store.create_run("ppo", {})
    watch = ov.watch_run(store, run)
    for round_, pairs in enumerate(ROUNDS, 1):
        store.add_samples(run, round_, _rows(pairs))
        watch.samples(round_, _rows(pairs))
    assert [a.signal for _, a in ov.alarms(store, run)] == ["collapse"]
    assert ov.alarms(store, run)[0][1].prompts == ()  # the stored alarm: text only
    assert ov.flagged_prompts(store, run) == [p for p, _ in CURT]
    assert ov.flagged_prompts(store, store.create_run("ppo", {})) == []


def test_an_alarm_offers_the_round_after_its_own_run_or_says_why_not(store):
    older, latest = _online_run(store), _online_run(store)
    assert plan.offer(store, older) == plan.Offer(older, "sample", None)
    plan.record_prepared(store, older, [], [])
    assert plan.offer(store, older) == plan.Offer(older, "train", None)
    running = store.create_run("ppo", {"_reward": "1"})
    assert plan.offer(store, running).refused == (f"run {running} is a running ppo run: a round goes on from a "
                                                  "finished PPO, RLOO or GRPO run")
    bare = store.create_run("ppo", {})
    store.update_run(bare, status="finished")
    assert "used no reward model" in plan.offer(store, bare).refused
    after = _online_run(store, start=latest)
    _gold(store, latest, [True, False])
    _gold(store, after, [True, False])
    assert "stopped rising" in plan.offer(store, after).refused
    assert "already went on in run" in plan.offer(store, latest).refused


def test_a_round_after_alarms_optimises_the_cautious_reward_and_its_offer_says_so(store):
    def run_with(config: dict, *signals: str) -> int:
        run = store.create_run("ppo", {"_init": "base", "_reward": "1", **config})
        store.update_run(run, status="finished", artifact=f"runs/{run}/adapter")
        for signal in signals:
            ov.add_alarm(store, run, ov.Alarm(signal, 2, 3, "seen", "act"))
        return run

    hacked, calm = run_with({"uncertainty_penalty": 0.0}, "collapse"), run_with({"uncertainty_penalty": 0.0})
    assert plan.round_penalty(store, store.run(hacked)) == plan.CAUTIOUS_PENALTY == 1.0
    assert plan.round_penalty(store, store.run(calm)) is None
    assert plan.round_penalty(store, store.run(run_with({"uncertainty_penalty": 0.0}, "entropy"))) is None
    assert plan.round_penalty(store, store.run(run_with({"uncertainty_penalty": 0.5}, "length"))) is None  # its own
    assert plan.round_penalty(store, store.run(run_with({}, "collapse"))) is None  # a kind without the setting
    assert plan.offer(store, hacked).penalty is None  # sampling trains nothing yet
    plan.record_prepared(store, hacked, [], [])
    plan.record_prepared(store, calm, [], [])
    assert plan.offer(store, hacked) == plan.Offer(hacked, "train", None, 1.0)
    assert plan.offer(store, calm) == plan.Offer(calm, "train", None, None)


def _ranked(store, answers: int, count: int) -> list[int]:
    """`count` comparisons of `answers` answers each, ranked by "me" (each on a prompt of its own)."""
    made = []
    for _ in range(count):
        pid = store.add_prompt(f"question {len(store.prompts())}")
        cid = store.add_comparison(pid, [store.add_response(pid, f"answer {j}", "base") for j in range(answers)])
        store.add_ranking(cid, [[j] for j in range(answers)], "me")
        made.append(cid)
    return made


def test_k_follows_the_answers_the_project_ranks(store):
    assert plan.answers_per_prompt(store) == 2  # nothing ranked yet
    _ranked(store, 3, 2)
    assert plan.answers_per_prompt(store) == 3
    _ranked(store, 4, 3)
    assert plan.answers_per_prompt(store) == 4  # the most common
    _ranked(store, 3, 1)
    assert plan.answers_per_prompt(store) == 4  # 3 and 3: a tie goes to the larger
    pid = store.add_prompt("never ranked")
    for _ in range(5):  # comparisons nobody ranked do not count
        store.add_comparison(pid, [store.add_response(pid, f"unranked {j}", "base") for j in range(5)])
    for skipped in _ranked(store, 6, 4):  # nor those skipped after all
        store.add_ranking(skipped, [], "me", status="skip")
    run = _online_run(store)
    _gold(store, run, [True] * 8)  # nor gold checks: always pairs
    assert plan.answers_per_prompt(store) == 4
    assert plan.answers_per_prompt(store, 5) == 5
    with pytest.raises(ValueError, match="at least 2 answers per prompt, got 1"):
        plan.answers_per_prompt(store, 1)
