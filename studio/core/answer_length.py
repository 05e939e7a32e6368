"""How long the answers to rank are when the user has not chosen: a default per device.

On a CPU, 48 tokens make a first comparison of 2 answers in under 10 s on 2 cores (bench/RESULTS.md); an
accelerator affords more. Kept here (no Qt, no torch) so the labelling-only pack window can name it too.
"""
from __future__ import annotations

ANSWER_TOKENS = {"cpu": 48, "mps": 128, "cuda": 256}


def default_answer_tokens(device: str) -> int:
    """The default answer length for `device` ("cpu", "cuda:0", …)."""
    return ANSWER_TOKENS.get(device.split(":")[0], ANSWER_TOKENS["cpu"])
