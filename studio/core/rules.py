"""Rule labellers: a written rule ranks comparisons (workshops, quick starts, synthetic ground truth).

A rule is `longer`, `shorter`, `contains:PHRASE`, `avoids:PHRASE` (case-insensitive) or
`regex:PATTERN` (a search with the `regex` package, Python `re` syntax). Each answer gets a score under the
rule; answers are ranked by score, equal scores tied. A comparison where every answer scores the same is left
alone (the rule says nothing about it). Labels are stored as annotator `rule:<rule>` with confidence 1.

A pattern may backtrack for ages on a long answer (`(a+)+$`), so every answer is matched outside any
transaction, within MATCH_SECONDS, before the labels are written in one short transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

from studio.core.oversight_store import add_machine_label

KINDS = ("longer", "shorter", "contains", "avoids", "regex")
MATCH_SECONDS = 1.0  # the most one regular-expression search may take on one answer


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
                regex.compile(self.argument)
            except regex.error as exc:
                raise ValueError(f"the regular expression {self.argument!r} is invalid: {exc}") from None
        return self

    @property
    def annotator(self) -> str:
        return f"rule:{self.kind}" + (f":{self.argument}" if self.argument else "")

    def score(self, text: str) -> float:
        """How well `text` follows the rule; higher is better. A search running past MATCH_SECONDS raises
        ValueError."""
        if self.kind in ("longer", "shorter"):
            return len(text) if self.kind == "longer" else -len(text)
        return match_score(self.kind, self.argument, text)

    def order(self, responses: Sequence[str]) -> list[list[int]] | None:
        """Best-first groups of positions (equal scores tied); None when all answers score the same."""
        scores = [self.score(t) for t in responses]
        levels = sorted(set(scores), reverse=True)
        if len(levels) < 2:
            return None
        return [[i for i, s in enumerate(scores) if s == level] for level in levels]


def match_score(kind: str, argument: str, text: str) -> float:
    """1.0 or 0.0: whether `text` contains (`contains`), lacks (`avoids`) the phrase `argument` (case-insensitive)
    or holds a match of the pattern `argument` (`regex`); ValueError for a search that runs past MATCH_SECONDS.
    Self-contained (`regex` and MATCH_SECONDS only): exported jobs carry its source (`core.job_rewards`)."""
    if kind == "regex":
        try:
            return 1.0 if regex.search(argument, text, timeout=MATCH_SECONDS) else 0.0
        except TimeoutError:
            raise ValueError(f"the regular expression {argument!r} took over {MATCH_SECONDS:g} s on a "
                             f"{len(text)}-character answer: it backtracks too much (nested repeats such as "
                             "(a+)+ do); simplify it") from None
    found = argument.strip().lower() in text.lower()
    return float(found if kind == "contains" else not found)


def label_with_rule(store, rule: Rule, limit: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Label every comparison this rule has not ranked yet; (labelled, left alone).

    Every answer is scored first, with no transaction open (others label meanwhile); then all the labels land
    in one short transaction. A search that runs too long stops everything with ValueError, nothing written.
    """
    todo = store.unranked_comparisons(rule.annotator)[:limit]
    orders = {}
    for i, comparison in enumerate(todo, 1):
        try:
            order = rule.order(comparison.responses)
        except ValueError as exc:
            raise ValueError(f"comparison {comparison.id}: {exc}; nothing was labelled") from None
        if order is not None:
            orders[comparison.id] = order
        if progress:
            progress(i, len(todo))
    with store.transaction():
        for comparison_id, order in orders.items():
            add_machine_label(store, comparison_id, order, rule.annotator, 1.0)
    return len(orders), len(todo) - len(orders)
