"""How many examples an eval figure rests on, and whether that is enough to read anything into it.

The engines hold out `eval_fraction` of the prompts (reward model, DPO) or demonstrations (SFT), and
none below 10 (`studio.training.engine.split_indices`); this counts the same from the store, so the
Train page can say it beside every eval figure without importing the engines.
"""
from __future__ import annotations

import math

from studio.core.ratings import training_pairs
from studio.core.store import Store

MIN_HELD_OUT = 10        # the engines hold nothing out below this many prompts / demonstrations
MEANINGFUL = 20          # held-out examples for an accuracy whose standard error is about ±0.1
UNITS = {"sft": "demonstration", "reward": "prompt", "dpo": "prompt"}


def data_size(store: Store, kind: str) -> int:
    """What `kind` splits: demonstrations for SFT, distinct ranked prompts for the reward model and DPO."""
    if kind == "sft":
        return store.counts()["demonstrations"]
    return len({pair.prompt for pair in training_pairs(store)})


def held_out(total: int, fraction: float) -> int:
    """How many of `total` the engines hold out for evaluation."""
    return int(total * fraction) if total >= MIN_HELD_OUT else 0


def held_out_note(kind: str, total: int, fraction: float) -> str:
    """One line for the Train page: the held-out size, and a warning with what would fix a small one."""
    unit = UNITS.get(kind)
    if unit is None:
        return ""
    held = held_out(total, fraction)
    size = f"Eval figures rest on {held} held-out {unit}{'s' * (held != 1)} (of {total})"
    if held >= MEANINGFUL:
        return size + "."
    if fraction <= 0:
        return size + ": set eval fraction above 0 to measure generalisation."
    needed = max(math.ceil(MEANINGFUL / fraction), MIN_HELD_OUT)
    more = "demonstrations" if kind == "sft" else "ranked prompts"
    return (f"{size}: too few to mean much. About {needed - total} more {more} would give {MEANINGFUL} "
            f"held out at eval fraction {fraction:g}.")
