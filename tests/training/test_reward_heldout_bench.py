"""bench/reward_heldout.py: the held-out pairs it builds from stored rounds results (the rule's preferred answer
first, ties dropped) and the pair accuracy it reports (ties half), against hand counts."""
import importlib.util
import json
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))
spec = importlib.util.spec_from_file_location("reward_heldout", BENCH / "reward_heldout.py")
reward_heldout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reward_heldout)
HELD_OUT = reward_heldout.rounds.HELD_OUT


def test_heldout_pairs_put_the_rules_choice_first(tmp_path):
    sft = ["A compass needle is a small magnet that points north.", "Salt is a mineral.", "Same answer here ok."]
    answers = ["A magnet that points north.", "Salt is sodium chloride, a mineral found in the sea and rocks.",
               "Same answer here ok."]
    (tmp_path / "rounds_x.json").write_text(json.dumps({"setting seed 0": {"answers": answers}}))
    pairs = reward_heldout.heldout_pairs("floor", [tmp_path / "rounds_x.json"], sft, limit=10)
    # floor: the shorter wins from 6 words on; under 6 words loses; the third pair ties and is dropped
    assert sorted(pairs) == sorted([(HELD_OUT[0], sft[0], answers[0]), (HELD_OUT[1], answers[1], sft[1])])
    assert len(reward_heldout.heldout_pairs("floor", [tmp_path / "rounds_x.json"], sft, limit=1)) == 1


def test_accuracy_counts_ties_half():
    rows = {("p", "a"): 0, ("p", "b"): 1, ("p", "c"): 2, ("p", "d"): 3}
    values = torch.tensor([2.0, 1.0, 1.0, 3.0])
    pairs = [("p", "a", "b"), ("p", "b", "c"), ("p", "a", "d"), ("p", "d", "c")]  # right, tie, wrong, right
    assert reward_heldout.accuracy(values, rows, pairs) == round(2.5 / 4, 3)
