"""The alarms read what a person reads: the samples table (collapse, nonwords, repeats, off-topic answers), the KL
spent per token, and a length alarm whose advice follows the sign of what it saw. Thresholds are judged on a
corpus of healthy and degenerate answers (`alarm_corpus`): false alarms on healthy runs, hits on degenerate ones."""
import random

import pytest

from studio.core.answer_quality import addresses, is_wordlike, repeats_itself
from studio.core.monitor import SAMPLE_SIGNALS, HackingMonitor, MonitorSettings
from studio.core.oversight_store import alarms, watch_run
from tests.core.alarm_corpus import DEGENERATE, HEALTHY

PER_ROUND, ROUNDS, RUNS = 4, 6, 200
EXPECTED = {"short": "collapse", "long": "collapse", "nonwords": "nonwords", "repeats": "repeats",
            "off_topic": "off_topic"}


def sample_run(seed: int, degenerate: list | None = None, bad_per_round: int = PER_ROUND) -> HackingMonitor:
    """A run of ROUNDS rounds of PER_ROUND samples drawn from the healthy corpus; from round 4 on, `bad_per_round`
    of each round's samples come from `degenerate` instead. Returns the monitor that watched it."""
    rng, monitor = random.Random(seed), HackingMonitor(MonitorSettings())
    healthy, bad = rng.sample(HEALTHY, len(HEALTHY)), rng.sample(degenerate or [], len(degenerate or []))
    for round_ in range(1, ROUNDS + 1):
        n_bad = bad_per_round if degenerate and round_ > ROUNDS // 2 else 0
        rows = [healthy.pop() for _ in range(PER_ROUND - n_bad)] + [bad.pop() for _ in range(n_bad)]
        monitor.observe_samples(round_, [{"prompt": p, "response": a} for p, a in rows])
    return monitor


def corpus_rates(bad_per_round: int = PER_ROUND) -> tuple[float, dict[str, float]]:
    """(share of healthy runs that raised a sample alarm, {degenerate kind: share of its runs that raised the
    expected alarm})."""
    false = sum(bool(sample_run(seed).alarms) for seed in range(RUNS)) / RUNS
    hits = {kind: sum(EXPECTED[kind] in {a.signal for a in sample_run(seed, rows, bad_per_round).alarms}
                      for seed in range(RUNS)) / RUNS for kind, rows in DEGENERATE.items()}
    return false, hits


def test_no_false_alarm_on_healthy_runs_and_every_degenerate_run_caught():
    false, hits = corpus_rates()
    assert false == 0.0
    assert hits == {kind: 1.0 for kind in DEGENERATE}


def test_half_degenerate_rounds_are_still_caught_mostly():
    """Measured: short 0.86, long 0.9, nonwords and repeats 1.0; off_topic 0.3 (healthy answers miss their
    prompt's words a third of the time, so half off-topic rounds sit near the healthy share)."""
    false, hits = corpus_rates(bad_per_round=2)
    assert false == 0.0 and min(hits[k] for k in ("short", "long", "nonwords", "repeats")) >= 0.85, hits
    assert hits["off_topic"] >= 0.2, hits


def test_the_answer_measures_on_the_issue_s_samples():
    assert not is_wordlike("FrulebyFretled") and not is_wordlike("bzzkt") and not is_wordlike("aaand")
    assert all(is_wordlike(w) for w in ("Flocking", "Their", "Matter", "Don't", "rhythm", "a", "strengths"))
    assert repeats_itself("the sky is blue because the sky is blue") and not repeats_itself("a b c d a b")
    assert addresses("How does a compass work?", "By gazing at the sun.") is False
    assert addresses("How does a compass work?", "A compass needle is a magnet.") is True
    assert addresses("Why?", "Because.") is None


def test_a_collapse_alarm_names_the_answers_to_label_next():
    monitor = sample_run(0, DEGENERATE["short"])
    alarm = next(a for a in monitor.alarms if a.signal == "collapse")
    assert alarm.raised <= ROUNDS and alarm.began == alarm.raised - 2  # the window: the last three rounds
    assert "longer, sensible" in alarm.action and "Label next" in alarm.action
    short = {a for _, a in DEGENERATE["short"]}
    named = [part.split(' -> "')[1].rstrip('"') for part in alarm.action.split("; ") if " -> " in part]
    assert named and all(answer in short for answer in named)


def length_stream(sign: int) -> list[dict]:
    """Rounds whose reward follows answer length inside each round with r = sign * 0.8."""
    return [{"reward": 0.1 * i, "kl": 1.0, "response_length": 20, "reward_length_corr": sign * 0.8}
            for i in range(4)]


@pytest.mark.parametrize("sign, wins, loses", [(1, "shorter", "longer"), (-1, "longer", "shorter")])
def test_length_advice_follows_the_sign_it_saw(sign, wins, loses):
    monitor = HackingMonitor(MonitorSettings())
    rows = [{"prompt": "Why is the sky blue?", "response": "Don't ask."},
            {"prompt": "How do fish breathe?", "response": "Fish take oxygen from water through their gills."}]
    for round_, metrics in enumerate(length_stream(sign), 1):
        monitor.observe(round_, metrics)
        monitor.observe_samples(round_, rows)
    alarm = next(a for a in monitor.alarms if a.signal == "length")
    assert f"the {wins}, sensible answer wins" in alarm.action and loses not in alarm.action.split("wins")[0]
    first_named = alarm.action.split("Label next")[1]
    assert ("Don't ask." in first_named.split(";")[0]) == (sign < 0)  # the curt answer when brevity is prized


@pytest.mark.parametrize("sign", [1, -1])
def test_length_trend_alarm_in_both_directions(sign):
    monitor = HackingMonitor(MonitorSettings())
    for i in range(5):
        monitor.observe(i + 1, {"reward": 0.1 * i, "kl": 1.0, "response_length": 30 + sign * 5 * i})
    alarm = next(a for a in monitor.alarms if a.signal == "length")
    grew, wins = ("longer", "shorter") if sign > 0 else ("shorter", "longer")
    assert f"answers get {grew}" in alarm.message and f"the {wins}, sensible answer wins" in alarm.action


def test_drift_alarm_on_kl_per_token():
    settings = MonitorSettings()
    calm = HackingMonitor(settings)
    calm.observe_all((i, {"kl": 6.0, "response_length": 14.0, "reward": 0.1 * i}) for i in range(1, 6))
    assert calm.alarms == []  # 0.43 nats a token: a healthy run's
    drifting = HackingMonitor(settings)
    drifting.observe_all((i, {"kl": 6.0, "response_length": 6.0, "reward": 0.1 * i}) for i in range(1, 6))
    assert [(a.signal, a.began, a.raised) for a in drifting.alarms] == [("drift", 1, 3)]


def test_sample_alarms_are_stored_and_replayed_on_resume():
    from studio.core.store import Store

    store = Store(None)
    run_id = store.create_run("ppo", {"target_kl": 6.0})
    watch = watch_run(store, run_id)
    for round_ in range(1, 4):
        rows = [{"prompt": p, "response": a} for p, a in DEGENERATE["nonwords"][4 * round_ - 4:4 * round_]]
        store.add_samples(run_id, round_, rows)
        watch.samples(round_, rows)
    assert [a.signal for _, a in alarms(store, run_id)] == ["nonwords"]
    assert watch_run(store, run_id).monitor.alarms[0].signal == "nonwords"  # a resumed run knows it fired
    assert set(SAMPLE_SIGNALS) == {"collapse", "nonwords", "repeats", "off_topic"}
