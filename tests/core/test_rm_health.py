import math

import pytest

from studio.core.rm_health import (ScoredPair, accuracy, brier, expected_calibration_error, histogram,
                                   length_correlation, pearson, reliability, rm_report, worst_pairs)

GAPS = [2.0, 0.0, -1.0]


def pair(chosen_score: float, rejected_score: float, chosen: str = "a", rejected: str = "b", cid: int = 1,
         weight: float = 1.0, prompt: str = "p"):
    return ScoredPair(prompt, chosen, rejected, chosen_score, rejected_score, cid, weight)


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


def test_length_bias_is_read_within_pairs_not_across_prompts():
    """Two prompts' answers are long and score high, a third prompt's are short and score low: pooled over
    answers, length and score correlate strongly. Within each pair the longer answer scores lower.
    (length gap, score gap): (-2, 1), (-2, 0.5), (1, -0.5): sum dl*ds = -3.5, sum dl^2 = 9, sum ds^2 = 1.5,
    r = -3.5 / sqrt(13.5)."""
    pairs = [pair(10.0, 9.0, "x" * 20, "y" * 22, prompt="A"), pair(9.5, 9.0, "x" * 21, "y" * 23, prompt="B"),
             pair(0.0, 0.5, "xx", "y", prompt="C")]
    pooled = pearson([20, 22, 21, 23, 2, 1], [10.0, 9.0, 9.5, 9.0, 0.0, 0.5])
    assert pooled > 0.9
    assert length_correlation(pairs) == pytest.approx(-3.5 / math.sqrt(13.5))
    report = rm_report(pairs)
    assert report.length_correlation == pytest.approx(-0.9526, abs=1e-4) and "shorter" in report.warnings[0]


def test_length_bias_weights_each_ranking_once():
    # (dl, ds, w): (1, 1, 1/3) three times from one 3-way ranking, (1, -1, 1) and (2, -1, 1):
    # sum w dl ds = 1 - 1 - 2 = -2, sum w dl^2 = 1 + 1 + 4 = 6, sum w ds^2 = 1 + 1 + 1 = 3: r = -2 / sqrt(18)
    third = [pair(1.0, 0.0, "bb", "a", weight=1 / 3) for _ in range(3)]
    pairs = third + [pair(0.0, 1.0, "cc", "d"), pair(0.0, 1.0, "eee", "f")]
    assert length_correlation(pairs) == pytest.approx(-2 / math.sqrt(18))


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
    # (length gap, score gap): (1, 1), (1, -1), (2, 0): sum dl*ds = 0, r = 0
    pairs = [pair(1.0, 0.0, "bb", "a", 1), pair(0.0, 1.0, "cc", "d", 2), pair(0.5, 0.5, "eee", "f", 3)]
    assert rm_report(pairs).length_correlation == pytest.approx(0.0)
    assert rm_report(pairs).warnings == []
    assert length_correlation(pairs[:2]) is None  # fewer than 3 pairs


def test_calibration_weights_each_ranking_once():
    """One 4-way ranking's 6 pairs (weight 1/6 each) all right at gap log 3 (P = 3/4), two 2-way pairs wrong at
    the same gap. Counted per pair, 6 of 8 are right at 3/4: calibrated. Per ranking (weights 1 and 2): the bin
    at 3/4 wins 1/3 of its weight, the bin at 1/4 wins 2/3: ECE = |1/3 - 3/4| = 5/12; Brier (1 * 1/16 + 2 * 9/16)
    / 3 = 19/48; accuracy 1/3."""
    g = math.log(3)
    pairs = [pair(g, 0.0, weight=1 / 6) for _ in range(6)] + [pair(0.0, g), pair(0.0, g)]
    report = rm_report(pairs, bins=4)
    assert report.ece == pytest.approx(5 / 12)
    assert report.brier == pytest.approx(19 / 48)
    assert report.accuracy == pytest.approx(1 / 3)
    assert [(b.count, b.weight, b.win_rate) for b in report.bins] == [
        (8, pytest.approx(3.0), pytest.approx(2 / 3)), (8, pytest.approx(3.0), pytest.approx(1 / 3))]
    gaps = [p.gap for p in pairs]
    assert expected_calibration_error(reliability(gaps, 4)) == pytest.approx(0.0)  # unweighted: looks calibrated
    assert brier(gaps) == pytest.approx(3 / 16) and accuracy(gaps) == 0.75


def test_ece_shares_bins_by_weight_not_by_count():
    """A 3-way ranking's 3 pairs (weight 1/3) right at P = 3/4 and one 2-way tie (P = 1/2). Bins of 1/4: [1/4, 1/2)
    holds 3 predictions of weight 1 off by 1/4, [1/2, 3/4) 2 of weight 2 off by 0, [3/4, 1] 3 of weight 1 off by
    1/4: ECE = (1/4 + 0 + 1/4) / 4 = 1/8 (by count it would be (3/4 + 3/4) / 8 = 3/16)."""
    g = math.log(3)
    report = rm_report([pair(g, 0.0, weight=1 / 3) for _ in range(3)] + [pair(0.0, 0.0)], bins=4)
    assert [(b.count, b.weight) for b in report.bins] == [(3, pytest.approx(1.0)), (2, 2.0), (3, pytest.approx(1.0))]
    assert report.ece == pytest.approx(1 / 8)


def test_scored_pairs_keep_their_weight_on_disk(tmp_path):
    from studio.core.rm_health import load_scored, save_scored

    path = save_scored(tmp_path / "s.jsonl", [pair(1.0, 0.0, weight=1 / 3)], "held-out")
    assert load_scored(path) == ([pair(1.0, 0.0, weight=1 / 3)], "held-out")


def test_worst_pairs_skips_right_ones_and_empty_report_refused():
    assert worst_pairs([pair(1.0, 0.0)]) == []
    with pytest.raises(ValueError, match="no scored pairs"):
        rm_report([])
