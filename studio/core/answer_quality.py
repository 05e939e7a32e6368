"""What a person sees in the samples table, measured: answers' length in words, words that are not words, repeated
word n-grams, and answers that share no content word with their prompt (no torch, no word list).

No English word list ships with the studio's dependencies, so a word is judged by its shape (`is_wordlike`): letters
with a vowel, no capital inside it ("FrulebyFretled"), no run of six consonants or five vowels, no letter three
times in a row, at most 20 letters. The thresholds that the monitor applies to these were measured on a small corpus
of healthy (SFT-like) and degenerate answers (tests/core/alarm_corpus.py).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

VOWELS = "aeiouy"
TOKEN = re.compile(r"[A-Za-z][A-Za-z']*")
STOP = frozenset("""a an and are as at be been but by can do does did for from had has have how i if in into is it
its me my no not of on or our she so than that the their them then there these they this those to was we were what
when where which who why will with would you your about explain tell describe give write name list some""".split())


def words(text: str) -> list[str]:
    """The answer's words (runs of letters, apostrophes inside)."""
    return TOKEN.findall(text)


def is_wordlike(word: str) -> bool:
    """Whether `word` has the shape of a word: see the module docstring."""
    letters = word.replace("'", "")
    lower = letters.lower()
    if not lower or len(lower) > 20 or not any(v in lower for v in VOWELS) and len(lower) > 1:
        return False
    if re.search(r"[a-z][A-Z]", letters) or re.search(r"(.)\1\1", lower):
        return False
    return not re.search(rf"[^{VOWELS}]{{6}}", lower) and not re.search(rf"[{VOWELS}]{{5}}", lower)


def nonword_share(text: str) -> float:
    """The share of the answer's words that are not word-like (0 for an answer without words)."""
    found = words(text)
    return sum(not is_wordlike(w) for w in found) / len(found) if found else 0.0


def repeats_itself(text: str) -> bool:
    """Whether the answer loops: some word 4-gram occurs twice, a 3-gram three times, or one word three times in a
    row. A 3-gram twice is ordinary English in an answer of 30+ words ("A piano is like a big room ... Each part is
    like a chair"), not a loop ("made from a wick made from a wick"): bench/RESULTS.md section 35."""
    found = [w.lower() for w in words(text)]
    fours = Counter(zip(found, found[1:], found[2:], found[3:]))
    threes = Counter(zip(found, found[1:], found[2:]))
    in_a_row = any(a == b == c for a, b, c in threes)
    return in_a_row or max(fours.values(), default=0) > 1 or max(threes.values(), default=0) > 2


def content_stems(text: str) -> set[str]:
    """The first four letters of each lowercase word of three letters or more that is not a stop word."""
    return {w.lower()[:4] for w in words(text) if len(w) >= 3 and w.lower() not in STOP}


def addresses(prompt: str, answer: str) -> bool | None:
    """Whether the answer shares a content word with its prompt; None when the prompt has none to share."""
    asked = content_stems(prompt)
    return bool(asked & content_stems(answer)) if asked else None


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
