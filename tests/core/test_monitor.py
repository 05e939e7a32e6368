import math

import pytest

from studio.core.monitor import HackingMonitor, MonitorSettings, monitor_for
from studio.core.text_stats import distinct_n, round_stats


def run(stream: list[dict], target_kl: float | None = 6.0):
    monitor = HackingMonitor(MonitorSettings(target_kl=target_kl))
    return monitor.observe_all(enumerate(stream, 1))


def signals(alarms):
    return {a.signal: a.began for a in alarms}


def healthy(rounds: int = 10) -> list[dict]:
    """Reward rising gently, KL under target, steady entropy, length and diversity."""
    return [{"reward": 0.1 * i, "kl": 1.0 + 0.2 * i, "entropy": 2.0 - 0.05 * i, "response_length": 40 + (i % 3),
             "distinct_2": 0.9, "reward_length_corr": 0.1} for i in range(rounds)]


def test_a_healthy_run_raises_nothing():
    assert run(healthy()) == []


def test_kl_alarm_needs_three_rounds_above_twice_target_with_rising_reward():
    stream = healthy(8)
    for i, kl in zip(range(3, 6), (13.0, 14.0, 15.0)):
        stream[i]["kl"] = kl
    alarms = run(stream)
    assert signals(alarms) == {"kl": 4}         # rounds 4, 5, 6 (1-based) were above 12
    assert alarms[0].raised == 6 and "KL" in alarms[0].message and "init_kl_coef" in alarms[0].action


def test_kl_alarm_silent_for_two_rounds_or_falling_reward_or_no_target():
    two = healthy(8)
    two[3]["kl"] = two[4]["kl"] = 20.0
    assert run(two) == []
    above_target_only = healthy(8)
    for row in above_target_only[3:]:
        row["kl"] = 11.0                          # above 6, not above 12
    assert run(above_target_only) == []
    falling = healthy(8)
    for i in range(3, 6):
        falling[i].update(kl=20.0, reward=1.0 - 0.1 * i)
    assert run(falling) == []
    high = healthy(8)
    for row in high:
        row["kl"] = 50.0
    assert signals(run(high, target_kl=None)) == {"drift": 1}  # 1.2 nats a token; the KL rule needs a target
    assert signals(run(high)) == {"kl": 1, "drift": 1}


def test_entropy_alarm_below_a_third_of_start():
    stream = healthy(6)
    stream[4]["entropy"] = 0.7   # 2.0 / 3 = 0.667: not yet
    stream[5]["entropy"] = 0.6
    assert signals(run(stream)) == {"entropy": 6}
    stream[5]["entropy"] = 0.67
    assert run(stream) == []


def test_length_alarm_from_within_round_correlation():
    stream = healthy(6)
    for row in stream[2:5]:
        row["reward_length_corr"] = 0.8
    assert signals(run(stream)) == {"length": 3}
    stream[3]["reward_length_corr"] = 0.4
    assert run(stream) == []


def test_length_alarm_from_reward_and_length_rising_together():
    stream = healthy(8)
    for i, row in enumerate(stream):
        row["response_length"] = 40 + 10 * i     # 40 -> 110, in step with the reward
    alarms = run(stream)
    assert signals(alarms) == {"length": 1}      # the first full window of 5 rounds fires at round 5
    assert alarms[0].raised == 5
    flat_reward = healthy(8)
    for i, row in enumerate(flat_reward):
        row.update(response_length=40 + 10 * i, reward=0.3 * (-1) ** i)
    assert run(flat_reward) == []


SKY = ("the sky looks blue because air scatters short blue light far more than red light so that on clear days we "
       "see blue overhead while sunsets glow orange since their light crosses much more air before reaching our "
       "eyes and loses most blue along its long path").split()


def test_length_alarm_waits_for_answers_past_the_lengths_the_person_ranked():
    """A reward that follows brevity is the taste while the answers stay as long as ones the person ranked; it is
    the blind spot once they are shorter (issue 26): then the alarm fires, as it does without known lengths."""
    def brevity_run(words: int, labelled):
        monitor = HackingMonitor(MonitorSettings(target_kl=6.0, labelled_words=labelled))
        for i, row in enumerate(healthy(6), 1):
            monitor.observe(i, {**row, "reward_length_corr": -0.8})
            monitor.observe_samples(i, [{"prompt": "Why is the sky blue?", "response": " ".join(SKY[:words])}
                                        for _ in range(4)])
        return signals(monitor.alarms)

    assert brevity_run(8, (5.0, 30.0)) == {}        # 8 words: inside what was ranked
    assert brevity_run(4, (5.0, 30.0)) == {"length": 1}  # shorter than 95% of the ranked answers
    assert brevity_run(8, None) == {"length": 1}    # lengths unknown: as before
    assert brevity_run(40, (5.0, 30.0)) == {}       # longer than the labels, but the reward prizes brevity


def test_the_ranked_answers_length_range_is_their_5th_to_95th_percentile():
    from studio.core.oversight_store import words_range

    assert words_range(list(range(20, 0, -1))) == (2.0, 20.0)  # ranks int(0.05 * 20) = 1 and int(0.95 * 20) = 19
    assert words_range([7] * 9) is None


def test_repetition_alarm_when_distinct_bigrams_fall_while_reward_rises():
    stream = healthy(6)
    stream[5]["distinct_2"] = 0.5    # 0.9 * 0.7 = 0.63
    assert signals(run(stream)) == {"repetition": 6}
    for row in stream:
        row["reward"] = 0.0
    assert run(stream) == []


def test_ensemble_alarm_only_when_the_metric_exists():
    stream = healthy(7)
    assert run(stream) == []
    for i, row in enumerate(stream):
        row["ensemble_disagreement"] = 0.1 + 0.05 * i
    assert signals(run(stream)) == {"ensemble": 1}
    for row in stream:
        row["ensemble_disagreement"] = 0.1
    assert run(stream) == []


def test_each_signal_fires_once_and_missing_or_nan_values_are_ignored():
    stream = healthy(10)
    for row in stream[5:]:
        row["entropy"] = 0.1
    stream[2]["kl"] = math.nan
    alarms = run(stream)
    assert [a.signal for a in alarms] == ["entropy"]
    assert run([{"reward": 1.0}, {"loss": 2.0}, {}]) == []


def test_monitor_for_online_kinds_only():
    assert monitor_for("reward", {}) is None
    assert monitor_for("ppo", {"target_kl": 6.0}).settings.target_kl == 6.0


def test_distinct_n_and_round_stats_by_hand():
    assert distinct_n(["a b a b", "x y z"], 2) == pytest.approx((2 / 3 + 1) / 2)
    assert distinct_n(["one"], 2) is None
    stats = round_stats(["a b c", "a a a a", "a b c d"], [1.0, 2.0, 3.0])
    assert stats["distinct_2"] == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert stats["reward_length_corr"] == pytest.approx(3 ** 0.5 / 2)   # lengths 5, 7, 7 vs 1, 2, 3, by hand
    assert "reward_length_corr" not in round_stats(["ab", "cd"], [1.0, 2.0])
