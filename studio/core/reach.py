"""How far a reward model's labels reach, and which answers lie past it (no torch).

A reward model learns from the answers a person ranked; past them its score is extrapolation, and an online run that
follows it there learns the model's blind spot, not the person's taste ("Breakfast." for a taste for short answers,
shorter than any answer ever labelled: issue 26). The reach is read off the answers the person preferred (the first
place of each ranking): their shortest length in words, the largest share of words that are not word-like, and
whether the person ever ranked an answer that loops (`answer_quality.repeats_itself`) above one that does not.
There is no longest: the token limit bounds length from above, and the longest of a few dozen preferred answers
fell inside what the starting policy writes (a sparse taste's 20 preferred answers reached 21 words while 38% of
SFT's answers were longer: floored, PPO drifted longer still, bench/RESULTS.md section 37). An online run with
`stay_in_reach` scores an answer past the reach no higher than the reward model's lowest score on its own training
answers (`floor`), so the policy gains nothing by leaving what the labels cover; the signals are those the hacking
alarms watch (`core.monitor`).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.core.answer_quality import nonword_share, repeats_itself, words
from studio.core.preferences import pairs_from_ranking

FILE = "reach.json"  # in a reward run's folder, written when the run finishes


@dataclass(frozen=True)
class Reach:
    """The preferred answers' shortest length in words, their largest non-word share, whether a loop ever beat an
    answer without one, and the reward model's lowest raw score on its training answers."""

    min_words: int
    max_nonwords: float
    loops: bool
    floor: float

    @classmethod
    def of(cls, rankings: Sequence[dict], floor: float) -> Reach | None:
        """The reach of whole rankings (`preferences.ranking_record`); None without any preferred answer."""
        preferred = [r["responses"][i] for r in rankings for i in r["order"][0]]
        if not preferred:
            return None
        loops = any(repeats_itself(r["responses"][better]) and not repeats_itself(r["responses"][worse])
                    for r in rankings for better, worse, _ in pairs_from_ranking(r["order"]))
        return cls(min(len(words(t)) for t in preferred), max(map(nonword_share, preferred)), loops, floor)

    def outside(self, text: str) -> str | None:
        """Why `text` lies past the reach ("shorter", "non-words", "loops"), or None within it."""
        if len(words(text)) < self.min_words:
            return "shorter"
        if nonword_share(text) > self.max_nonwords:
            return "non-words"
        return "loops" if not self.loops and repeats_itself(text) else None

    def save(self, folder: Path) -> None:
        (Path(folder) / FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, folder: Path) -> Reach | None:
        """The reach saved in a reward run's folder; None for a run without one (trained before it was saved)."""
        path = Path(folder) / FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None
