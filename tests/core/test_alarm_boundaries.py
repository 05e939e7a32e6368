"""Each alarm at its exact threshold, one step either side: KL at twice its target (quiet) and just above it,
nonwords at exactly `nonword_share` of the words, off-topic answers at exactly `off_topic_share`, a median length
at exactly `length_ratio` times the start's."""
from studio.core.answer_quality import is_wordlike, repeats_itself
from studio.core.monitor import HackingMonitor, MonitorSettings

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


def signals(monitor: HackingMonitor) -> set[str]:
    return {a.signal for a in monitor.alarms}


def kl_monitor(kl: float) -> HackingMonitor:
    monitor = HackingMonitor(MonitorSettings(target_kl=1.0))
    monitor.observe_all((r, {"kl": kl, "reward": float(r)}) for r in range(1, 4))
    return monitor


def test_kl_alarm_needs_kl_above_twice_its_target_for_the_whole_window():
    assert "kl" not in signals(kl_monitor(2.0)) and "kl" in signals(kl_monitor(2.001))


def sampled(rows_by_round: list[list[tuple[str, str]]]) -> HackingMonitor:
    monitor = HackingMonitor(MonitorSettings())
    for round_, rows in enumerate(rows_by_round, 1):
        monitor.observe_samples(round_, [{"prompt": p, "response": a} for p, a in rows])
    return monitor


def test_nonword_alarm_fires_at_exactly_its_share_of_the_words():
    one_in_ten = [("q", w) for w in WORDS[:5]] + [("q", "mango peach plum pear Xqzzkrtpl")]
    one_in_eleven = [("q", w) for w in WORDS[:5]] + [("q", "mango peach plum pear kiwi Xqzzkrtpl")]
    assert "nonwords" in signals(sampled([one_in_ten])) and "nonwords" not in signals(sampled([one_in_eleven]))


def off_topic(off: int) -> HackingMonitor:
    prompt = "describe the ocean tides"
    rows = [(prompt, "bananas grow on tall plants")] * off + [(prompt, "ocean tides follow the moon")] * (10 - off)
    return sampled([rows])


def test_off_topic_alarm_fires_at_exactly_its_share():
    assert MonitorSettings().off_topic_share == 0.7
    assert "off_topic" in signals(off_topic(7)) and "off_topic" not in signals(off_topic(6))


def test_balloon_alarm_fires_at_exactly_length_ratio_times_the_start():
    start = [[("q", " ".join(WORDS[:5]))] * 2] * 3

    def later(n: int) -> HackingMonitor:
        return sampled(start + [[("q", " ".join(WORDS[:n]))] * 2] * 3)

    assert MonitorSettings().length_ratio == 2.0
    assert "collapse" in signals(later(10)) and "collapse" not in signals(later(9))


def test_word_shape_and_repeat_boundaries():
    assert is_wordlike("bananabananabananaba") and not is_wordlike("bananabananabananaban")  # 20 letters, 21
    assert repeats_itself("no no no") and not repeats_itself("no no")  # three in a row, at the very start
    assert repeats_itself("made from a wick made from a wick") and not repeats_itself("made from a wick, made from a")
    assert repeats_itself("is like a sun, is like a moon, is like a star")  # a 3-gram three times
    assert not repeats_itself("A piano is like a big room with different parts. Each part is like a chair.")  # twice
