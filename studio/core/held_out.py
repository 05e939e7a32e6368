"""How many examples an eval figure rests on, and whether that is enough to read anything into it.

The engines hold out `eval_fraction` of the prompts (reward model, DPO, KTO) or demonstrations (SFT), none
below 10 (`studio.training.batches.split_indices`), and record the split with their eval metrics as
`eval_size` (held out) and `data_size` (what was split). Before a run, the same split is counted from the
store. The Train page and the CLI show the size beside every eval figure, and warn when it is small.
"""
from __future__ import annotations

import math

from studio.core.ratings import Ratings, training_pairs
from studio.core.run_kinds import DEMONSTRATIONS, KINDS, PAIRS, RATINGS
from studio.core.store import Store

MIN_HELD_OUT = 10        # the engines hold nothing out below this many prompts / demonstrations
MEANINGFUL = 20          # held-out examples for an accuracy whose standard error is about ±0.1
# what the engines split, by what a kind learns from: demonstrations, or distinct prompts of the pairs or ratings
SPLIT_SIZE = {DEMONSTRATIONS: lambda store: store.counts()["demonstrations"],
              PAIRS: lambda store: len({pair.prompt for pair in training_pairs(store)}),
              RATINGS: lambda store: len({example["prompt"] for example in Ratings(store).examples()})}


def unit(kind: str) -> str:
    """What `kind`'s engine holds out for its eval figures ("" for kinds that hold nothing out)."""
    return KINDS[kind].learns_from.unit if kind in KINDS else ""


def data_size(store: Store, kind: str) -> int:
    """What `kind` splits: its demonstrations, or the distinct prompts of its pairs or rated answers."""
    split = SPLIT_SIZE.get(KINDS[kind].learns_from)
    return split(store) if split else 0


def held_out(total: int, fraction: float) -> int:
    """How many of `total` the engines hold out for evaluation."""
    return int(total * fraction) if total >= MIN_HELD_OUT else 0


def recorded_split(metrics: dict[str, float]) -> tuple[int, int] | None:
    """(held out, split) as a run recorded them with its eval metrics; None when it did not."""
    if "eval_size" not in metrics or "data_size" not in metrics:
        return None
    return int(metrics["eval_size"]), int(metrics["data_size"])


def size_text(kind: str, held: int) -> str:
    """What an eval figure rests on, e.g. "1 held-out prompt"."""
    return f"{held} held-out {unit(kind)}{'s' * (held != 1)}"


def held_out_note(kind: str, held: int, total: int, fraction: float) -> str:
    """One line: the held-out size, and a warning with what would fix a small one ("" for kinds without one)."""
    if not unit(kind):
        return ""
    size = f"Eval figures rest on {size_text(kind, held)} (of {total})"
    if held >= MEANINGFUL:
        return size + "."
    if fraction <= 0:
        return size + ": set eval fraction above 0 to measure generalisation."
    needed = max(math.ceil(MEANINGFUL / fraction), MIN_HELD_OUT)
    more = KINDS[kind].learns_from.more
    return (f"{size}: too few to mean much. About {max(needed - total, 1)} more {more} would give "
            f"{MEANINGFUL} held out at eval fraction {fraction:g}.")


def held_out_report(kind: str, metrics: dict[str, float], fraction: float) -> dict | None:
    """What a run's eval figures rest on, for `status --json`: size, of, unit and the note; None unrecorded."""
    split = recorded_split(metrics)
    if split is None or not unit(kind):
        return None
    return {"size": split[0], "of": split[1], "unit": unit(kind),
            "note": held_out_note(kind, split[0], split[1], fraction)}


def metrics_line(kind: str, metrics: dict[str, float], limit: int | None = None) -> str:
    """The CLI's "name=value, ..." of a run's metrics, each eval figure with its held-out size, e.g.
    "eval_accuracy=0 (1 held-out prompt)"."""
    split = recorded_split(metrics)
    shown = [(k, v) for k, v in metrics.items() if k not in ("eval_size", "data_size")][:limit]
    return ", ".join(f"{k}={v:.4g}" + (f" ({size_text(kind, split[0])})" if split and k.startswith("eval_") else "")
                     for k, v in shown)
