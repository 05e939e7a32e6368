import pytest

from studio.core.ai_feedback import agreements, combine_orders, disagreements, rank_by_pairs, suggestion, to_look_again
from studio.core.records import Ranking


def test_combine_orders_keeps_only_consistent_verdicts():
    # A first: P(A) = 0.8; B first: P(B) = 0.3 -> P(A) = 0.7: both say A, confidence (0.8 + 0.7) / 2
    assert combine_orders(0.8, 0.3) == (0, pytest.approx(0.75))
    assert combine_orders(0.2, 0.9) == (1, pytest.approx(0.85))
    assert combine_orders(0.9, 0.8) is None      # always the first answer: position bias
    assert combine_orders(0.1, 0.2) is None      # always the second answer
    assert combine_orders(0.5, 0.1) is None


def test_rank_by_pairs_wins_and_unsettled():
    verdicts = {(0, 1): (1, 0.9), (0, 2): (0, 0.7), (1, 2): (0, 0.8)}
    assert rank_by_pairs(3, lambda i, j: verdicts[(i, j)]) == ([[1], [0], [2]], 0.7)
    cycle = {(0, 1): (0, 0.9), (0, 2): (1, 0.6), (1, 2): (0, 0.8)}
    assert rank_by_pairs(3, lambda i, j: cycle[(i, j)]) == ([[0, 1, 2]], 0.6)
    assert rank_by_pairs(3, lambda i, j: None if (i, j) == (1, 2) else (0, 0.9)) is None


def ranking(cid, annotator, order, status="ranked"):
    return Ranking(0, cid, annotator, order, status, "")


RANKINGS = [ranking(1, "ann", [[0], [1]]), ranking(1, "ai:be brief", [[0], [1]]), ranking(1, "rule:longer", [[1], [0]]),
            ranking(2, "ann", [[1], [0]]), ranking(2, "ai:be brief", [[0], [1]]),
            ranking(3, "bob", [[0], [1]]), ranking(3, "ai:be brief", [[0], [1]]), ranking(4, "ann", [], "skip"),
            ranking(4, "ai:be brief", [[1], [0]])]


def test_agreements_by_hand():
    found = {(a.machine, a.human): (a.shared, a.agreement) for a in agreements(RANKINGS)}
    assert found == {("ai:be brief", "ann"): (2, 0.5), ("ai:be brief", "bob"): (1, 1.0),
                     ("rule:longer", "ann"): (1, 0.0)}


def test_disagreements_and_suggestion():
    assert disagreements(RANKINGS, "ann") == [(1, "rule:longer"), (2, "ai:be brief")]
    assert disagreements(RANKINGS, "bob") == []
    assert suggestion(RANKINGS, 1) == [("ai:be brief", [[0], [1]]), ("rule:longer", [[1], [0]])]


def test_suggestion_text():
    from studio.core.ai_feedback import suggestion_text

    assert suggestion_text(RANKINGS, 1, [[0], [1]]) == (" Labellers: ai:be brief picked 1 (agrees); "
                                                        "rule:longer picked 2 (differs).")
    assert suggestion_text(RANKINGS, 3, []) == " Labellers: ai:be brief picked 1 (differs)."
    assert suggestion_text(RANKINGS, 9, [[0], [1]]) == ""


def test_to_look_again_only_where_the_machine_spoke_after_the_person():
    rows = [Ranking(1, 1, "ann", [[0], [1]], "ranked", ""), Ranking(2, 1, "ai:be brief", [[1], [0]], "ranked", ""),
            Ranking(3, 2, "rule:longer", [[1], [0]], "ranked", ""), Ranking(4, 2, "ann", [[0], [1]], "ranked", ""),
            Ranking(5, 3, "ann", [[0], [1]], "ranked", ""), Ranking(6, 3, "ai:be brief", [[0], [1]], "ranked", ""),
            Ranking(7, 4, "ann", [], "skip", ""), Ranking(8, 4, "ai:be brief", [[1], [0]], "ranked", ""),
            Ranking(9, 5, "ann", [[0, 1]], "ranked", ""), Ranking(10, 5, "rule:longer", [[1], [0]], "ranked", ""),
            Ranking(11, 5, "ai:be brief", [[1], [0]], "ranked", "")]
    # 1: labelled after ann, differs; 2: labelled before ann ranked; 3 agrees; 4 ann skipped; 5 a tie vs a pick
    assert to_look_again(rows, "ann") == [1, 5]
    assert to_look_again(rows, "bob") == []
    assert disagreements(rows, "ann") == [(1, "ai:be brief"), (2, "rule:longer"), (5, "rule:longer"),
                                          (5, "ai:be brief")]
