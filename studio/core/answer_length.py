"""How long the answers to rank are when the user has not chosen: a default per device, the margin that lets an
answer end its sentence, and what counts as a sentence end.

On a CPU, 48 tokens make a first comparison of 2 answers in under 10 s on 2 cores (bench/RESULTS.md); an
accelerator affords more. Kept here (no Qt, no torch) so the labelling-only pack window can name it too.
"""
from __future__ import annotations

import re

ANSWER_TOKENS = {"cpu": 48, "mps": 128, "cuda": 256}
# An answer still going at its length may take up to this many more tokens to end the sentence it is in: a cut
# answer is ranked as if complete and the reward model learns from it. Finishing the sentence was chosen over
# leaving cut answers out of the pairs, measured on the embedded model (bench/RESULTS.md, "Answers cut
# mid-sentence"): at 48 tokens most answers are still going, so leaving them out would leave few pairs to learn
# from, while the margin finishes most of them for the price of a few tokens on the rows that need them.
FINISH_MARGIN = 16
# A sentence ends at . ! ? or … (a digit before the dot is a list number or a decimal, not an end), optionally
# closed by quotes or brackets, then only spaces.
_SENTENCE_END = re.compile(r"(?<![0-9])[.!?…][\"'”’)\]]*\s*$")


def default_answer_tokens(device: str) -> int:
    """The default answer length for `device` ("cpu", "cuda:0", …)."""
    return ANSWER_TOKENS.get(device.split(":")[0], ANSWER_TOKENS["cpu"])


def ends_sentence(text: str) -> bool:
    """Whether `text` ends at the end of a sentence."""
    return bool(_SENTENCE_END.search(text))
