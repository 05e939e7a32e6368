import pytest

from studio.core.rm_health import (ScoredPair, accuracy, brier, expected_calibration_error, histogram,
                                   length_correlation, pearson, reliability, rm_report, worst_pairs)

GAPS = [2.0, 0.0, -1.0]


def pair(chosen_score: float, rejected_score: float, chosen: str = "a", rejected: str = "b", cid: int = 1):
    return ScoredPair("p", chosen, rejected, chosen_score, rejected_score, cid)


def test_accuracy_counts_ties_half():
    assert accuracy(GAPS) == pytest.approx(0.5)


def test_brier_by_hand():
    # (1 - sigmoid(2))^2, (1 - 0.5)^2, (1 - sigmoid(-1))^2 averaged
    assert brier(GAPS) == pytest.approx((0.1192029 ** 2 + 0.25 + 0.7310586 ** 2) / 3, rel=1e-6)


def test_reliability_bins_both_orientations_by_hand():
    table = reliability(GAPS, bins=2)
    assert [(b.low, b.high, b.count) for b in table] == [(0.0, 0.5, 2), (0.5, 1.0, 4)]
    # low bin: sigmoid(-1) won, sigmoid(-2) lost; high bin: sigmoid(2) won, 0.5 won, 0.5 lost, sigmoid(1) lost
    assert table[0].confidence == pytest.approx(0.1940722, rel=1e-6)
    assert table[0].win_rate == 0.5
    assert table[1].confidence == pytest.approx(0.6529639, rel=1e-6)
    assert table[1].win_rate == 0.5
    assert expected_calibration_error(table) == pytest.approx(0.2039519, rel=1e-6)


def test_a_calibrated_model_has_small_ece():
    # gap log(3): P = 0.75; three of four such pairs right, one wrong: exactly calibrated
    import math

    g = math.log(3)
    table = reliability([g, g, g, -g], bins=4)
    assert expected_calibration_error(table) == pytest.approx(0.0, abs=1e-12)


def test_histogram_and_last_edge():
    assert histogram([0, 0.5, 1, 2, 2], [0, 1, 2]) == [2, 3]


def test_pearson_by_hand_and_degenerate():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 1, 2]) == pytest.approx(-0.5)
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert pearson([1, 2], [1, 2]) is None


def test_length_correlation_uses_each_response_once():
    pairs = [pair(3.0, 1.0, "xxx", "x"), pair(2.0, 3.0, "xx", "xxx")]
    # distinct responses: xxx (first score 3.0 then overwritten by 3.0), x 1.0, xx 2.0
    assert length_correlation(pairs) == pytest.approx(1.0)


def test_report_warns_on_length_and_lists_worst_first():
    pairs = [pair(1.0, 0.0, "long answer here", "no", 1), pair(-2.0, 0.5, "ok", "a much longer answer", 2),
             pair(0.4, 0.5, "fine", "meh", 3), pair(2.0, 1.0, "longest answer of them all", "tiny", 4)]
    report = rm_report(pairs)
    assert report.accuracy == 0.5
    assert [p.comparison_id for p in report.worst] == [2, 3]
    assert sum(report.chosen_histogram) == sum(report.rejected_histogram) == 4
    assert report.length_correlation > 0.5 and "length" in report.warnings[0]
    data = report.to_dict()
    assert data["worst"][0]["gap"] == -2.5 and data["pairs"] == 4


def test_no_warning_when_length_is_unrelated():
    # lengths 1, 2, 3, 4 scored 0, 1, 1, 0: r = 0
    pairs = [pair(1.0, 0.0, "bb", "a", 1), pair(1.0, 0.0, "ccc", "dddd", 2)]
    assert rm_report(pairs).length_correlation == pytest.approx(0.0)
    assert rm_report(pairs).warnings == []


def test_worst_pairs_skips_right_ones_and_empty_report_refused():
    assert worst_pairs([pair(1.0, 0.0)]) == []
    with pytest.raises(ValueError, match="no scored pairs"):
        rm_report([])
