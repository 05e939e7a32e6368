"""The held-out split at its boundaries: MIN_HELD_OUT prompts exactly (held out) and one fewer (nothing held out),
in the store's count and in the engines' own split, which must agree; and the note's MEANINGFUL boundary."""
from studio.core.held_out import MEANINGFUL, MIN_HELD_OUT, held_out, held_out_note
from studio.training.batches import split_by_prompt, split_indices


def test_exactly_min_held_out_prompts_are_split_and_one_fewer_are_not():
    assert MIN_HELD_OUT == 10
    assert held_out(10, 0.2) == 2 and held_out(9, 0.2) == 0
    train, held = split_indices(10, 0.2, seed=0)
    assert len(held) == 2 and sorted(train + held) == list(range(10))
    assert split_indices(9, 0.2, seed=0) == (split_indices(9, 0.2, seed=0)[0], [])
    assert len(split_indices(9, 0.2, seed=0)[0]) == 9


def test_split_by_prompt_at_the_boundary_holds_out_whole_prompts():
    items = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b"} for i in range(10) for _ in range(2)]
    train, held = split_by_prompt(items, 0.2, seed=3)
    held_prompts = {items[i]["prompt"] for i in held}
    assert len(held_prompts) == held_out(10, 0.2) == 2 and len(held) == 4
    assert not held_prompts & {items[i]["prompt"] for i in train}
    assert split_by_prompt(items[:18], 0.2, seed=3)[1] == []  # 9 prompts: nothing held out


def test_the_note_is_quiet_from_meaningful_held_out_on():
    assert held_out_note("reward", MEANINGFUL, 200, 0.1).endswith("(of 200).")
    below = held_out_note("reward", MEANINGFUL - 1, 199, 0.1)
    assert "too few to mean much" in below and "About 1 more ranked prompts" in below
