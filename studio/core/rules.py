"""Rule labellers: a written rule ranks comparisons (workshops, quick starts, synthetic ground truth).

A rule is `longer`, `shorter`, `contains:PHRASE`, `avoids:PHRASE` (case-insensitive) or
`regex:PATTERN` (Python `re.search`). Each answer gets a score under the rule; answers are ranked by
score, equal scores tied. A comparison where every answer scores the same is left alone (the rule
says nothing about it). Labels are stored as annotator `rule:<rule>` with confidence 1.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from studio.core.oversight_store import add_machine_label

KINDS = ("longer", "shorter", "contains", "avoids", "regex")


@dataclass(frozen=True)
class Rule:
    kind: str
    argument: str = ""

    @classmethod
    def parse(cls, text: str) -> Rule:
        """`longer`, `shorter`, `contains:PHRASE`, `avoids:PHRASE` or `regex:PATTERN`; ValueError otherwise."""
        kind, _, argument = text.strip().partition(":")
        return cls(kind.strip().lower(), argument).checked()

    def checked(self) -> Rule:
        if self.kind not in KINDS:
            raise ValueError(f"unknown rule {self.kind!r}: choose longer, shorter, contains:PHRASE, avoids:PHRASE "
                             "or regex:PATTERN")
        if self.kind in ("contains", "avoids", "regex") and not self.argument.strip():
            raise ValueError(f"the rule {self.kind} needs a phrase or pattern after the colon, e.g. {self.kind}:yes")
        if self.kind == "regex":
            try:
                re.compile(self.argument)
            except re.error as exc:
                raise ValueError(f"the regular expression {self.argument!r} is invalid: {exc}") from None
        return self

    @property
    def annotator(self) -> str:
        return f"rule:{self.kind}" + (f":{self.argument}" if self.argument else "")

    def score(self, text: str) -> float:
        """How well `text` follows the rule; higher is better."""
        if self.kind in ("longer", "shorter"):
            return len(text) if self.kind == "longer" else -len(text)
        if self.kind == "regex":
            return 1.0 if re.search(self.argument, text) else 0.0
        found = self.argument.strip().lower() in text.lower()
        return float(found if self.kind == "contains" else not found)

    def order(self, responses: Sequence[str]) -> list[list[int]] | None:
        """Best-first groups of positions (equal scores tied); None when all answers score the same."""
        scores = [self.score(t) for t in responses]
        levels = sorted(set(scores), reverse=True)
        if len(levels) < 2:
            return None
        return [[i for i, s in enumerate(scores) if s == level] for level in levels]


def label_with_rule(store, rule: Rule, limit: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Label every comparison this rule has not ranked yet, all in one transaction; (labelled, left alone)."""
    todo = store.unranked_comparisons(rule.annotator)[:limit]
    labelled = 0
    with store.transaction():
        for i, comparison in enumerate(todo, 1):
            order = rule.order(comparison.responses)
            if order is not None:
                add_machine_label(store, comparison.id, order, rule.annotator, 1.0)
                labelled += 1
            if progress:
                progress(i, len(todo))
    return labelled, len(todo) - labelled
