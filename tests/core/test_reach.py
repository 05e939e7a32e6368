"""The labels' reach (`core.reach`), on hand-made rankings: the preferred answers' range of length, their largest
non-word share, and loops only where a person ranked a loop above an answer without one."""
import pytest

from studio.core.preferences import ranking_record
from studio.core.reach import Reach

LOOP = "made from a wick made from a wick and wax"  # repeats a 4-gram: a loop (answer_quality.repeats_itself)


def rankings(*items: tuple[list[str], list[list[int]]]) -> list[dict]:
    return [ranking_record("why?", answers, order, None) for answers, order in items]


def test_the_reach_spans_the_preferred_answers_only():
    reach = Reach.of(rankings((["one two three four", "a"], [[0], [1]]),
                              (["x", "the sun is hot and very bright today", "fine"], [[1, 2], [0]]),
                              (["It is FrulebyFretled here", "plain words here now"], [[0], [1]])), floor=-2.5)
    # preferred: 4, 8, 1 ("fine") and 4 words ("a", 1 word, lost); "FrulebyFretled" is 1 of 4 words not word-like
    assert reach == Reach(min_words=1, max_nonwords=0.25, loops=False, floor=-2.5)


def test_loops_are_in_reach_only_where_a_loop_beat_an_answer_without_one():
    above_a_loop = rankings(([LOOP, LOOP + " too"], [[0], [1]]))  # both loop: says nothing about loops
    assert not Reach.of(above_a_loop, 0.0).loops
    tied = rankings(([LOOP, "candles are wax"], [[0, 1]]))  # one group: not above
    assert Reach.of(tied, 0.0) is not None and not Reach.of(tied, 0.0).loops
    lost = rankings((["candles are wax", LOOP], [[0], [1]]))  # a loop below an answer without one
    assert not Reach.of(lost, 0.0).loops
    beaten = rankings((["candles are wax", LOOP], [[0], [1]]), ([LOOP, "a candle burns wax"], [[0], [1]]))
    assert Reach.of(beaten, 0.0).loops


def test_what_lies_past_the_reach_and_why():
    reach = Reach(min_words=3, max_nonwords=0.0, loops=False, floor=0.0)
    assert reach.outside("Breakfast.") == "shorter"
    assert reach.outside("one two three four five six seven eight nine ten") is None  # no longest
    assert reach.outside("FrulebyFretled is here") == "non-words"
    assert reach.outside("wax wax wax burns") == "loops"
    assert reach.outside("a candle burns wax") is None
    assert Reach(3, 0.0, True, 0.0).outside("wax wax wax burns") is None


def test_no_preferred_answer_no_reach_and_the_file_round_trips(tmp_path):
    assert Reach.of([], 1.0) is None
    assert Reach.load(tmp_path) is None
    reach = Reach(2, 0.1, True, -3.25)
    reach.save(tmp_path)
    assert Reach.load(tmp_path) == reach


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_answer_is_shorter_than_any_preferred_one(text):
    assert Reach(1, 0.0, False, 0.0).outside(text) == "shorter"
