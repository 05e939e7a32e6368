"""How long the answers to rank are when the user has not chosen (a default per device), and where an answer that
reached that length mid-sentence is cut back to: its last whole sentence.

On a CPU, 48 tokens make a first comparison of 2 answers in under 10 s on 2 cores (bench/RESULTS.md); an
accelerator affords more. Kept here (no Qt, no torch) so the labelling-only pack window can name it too.

A cut answer is ranked as if complete and the reward model learns from it. At 48 tokens, 31 of 40 answers of the
embedded model stop mid-sentence (bench/cut_answers.py: 20 prompts x 2, one seed; 17 of the 20 comparisons hold
one). Three ways were measured on those answers:
- leave cut answers out of the reward model's pairs: 3 of 20 comparisons left to learn from;
- generate up to 16 more tokens to end the sentence: 8 of 40 still cut (8 comparisons), but 29% longer to generate
  (a batch runs until its last row ends, and of 40 rows one always needs the whole margin): the time a fast
  ranker waits for (issue 27, item 9);
- cut the answer back to its last whole sentence when that keeps at least half of it: 4 of 40 still cut
  (4 comparisons), mean length 45 -> 38 tokens, for free. This is what generation does; the rest are marked.
"""
from __future__ import annotations

import re

ANSWER_TOKENS = {"cpu": 48, "mps": 128, "cuda": 256}
KEEP_AT_LEAST = 0.5  # of an answer's characters, when it is cut back to its last whole sentence
# A sentence ends at . ! ? or … (a digit before the dot is a list number or a decimal, not an end), optionally
# closed by quotes or brackets: at the end of the text, or (inside it) before a space or a line break.
_END = r"(?<![0-9])[.!?…][\"'”’)\]]*"
_FINAL_END = re.compile(_END + r"\s*$")
_INNER_END = re.compile(_END + r"(?=\s)")


def default_answer_tokens(device: str) -> int:
    """The default answer length for `device` ("cpu", "cuda:0", …)."""
    return ANSWER_TOKENS.get(device.split(":")[0], ANSWER_TOKENS["cpu"])


def ends_sentence(text: str) -> bool:
    """Whether `text` ends at the end of a sentence."""
    return bool(_FINAL_END.search(text))


def whole_sentences(text: str) -> str | None:
    """`text` up to the end of its last whole sentence, when that keeps at least KEEP_AT_LEAST of it; else None."""
    last = max((m.end() for m in _INNER_END.finditer(text)), default=0)
    return text[:last] if last and last >= KEEP_AT_LEAST * len(text) else None
