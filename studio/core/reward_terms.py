"""Rewards you can write down: an online run's reward as a weighted sum of terms, parsed and checked without torch.

A term is written `[WEIGHT*]SOURCE[:ARGUMENT]` (CLI `--reward-term`, the Train page's "reward terms" field, one per
line); the weight defaults to 1 and may be negative:

- `rm`: the reward model (`--reward`, default latest:reward), as online runs use it without terms;
- `rule:shorter:N` / `rule:longer:N`: 1 when the answer has at most (at least) N characters, else N / length
  (length / N), so the score falls smoothly from 1; `N` may be written `target=N`;
- `rule:contains:PHRASE` / `rule:avoids:PHRASE` (case-insensitive) and `rule:regex:PATTERN` (a search, within
  `rules.MATCH_SECONDS`): 1 or 0, as the rule labellers score;
- `rule:json`: 1 when the whole answer (stripped) is valid JSON, else 0;
- `rule:matches`: 1 when the answer equals the prompt's reference answer (case and runs of whitespace ignored);
- `rule:number`: 1 when the last number in the answer equals the reference answer as a number ("3.0" = "3");
- `judge:PRINCIPLE`: the AI judge (the base model, adapters off) compares each answer with the other answers to its
  prompt in the round (PPO, one answer per prompt: with the prompt's reference answer), each pair read in both
  orders: +1 a win, -1 a loss, 0 when the two orders disagree (it abstains); the mean over the answer's pairs.

Reference answers come with the prompts (`{"prompt", "answer"}` imports). A weight comes first because patterns
and phrases may hold `*`: the text before the first `*` is a weight only when it holds no colon. Without terms a
run's reward is the reward model alone (`DEFAULT`), exactly as before. The terms are stored with the run
(`TERMS_KEY` in its config) as their texts; a Python reward function (`--reward-file path.py:function`) is a term
`file:NAME` whose code is never stored: a resumed run that needs it is given the file again.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from studio.core.rules import Rule, match_score

DEFAULT = ("rm",)
TERMS_KEY = "_reward_terms"  # the run config's key holding the terms' texts
RM, RULE, FILE, JUDGE = "rm", "rule", "file", "judge"
RULES = ("shorter", "longer", "contains", "avoids", "regex", "json", "matches", "number")
NEEDS_REFERENCE = ("matches", "number")
SYNTAX = ("a reward term is [WEIGHT*]rm, [WEIGHT*]judge:PRINCIPLE or [WEIGHT*]rule:RULE[:ARGUMENT] with RULE one "
          "of " + ", ".join(RULES) + " (e.g. 0.5*rm, rule:shorter:200, 2*rule:number)")
TERM_HELP = ("one term of the reward, with its weight (repeatable; without any, the reward model alone): rm (the "
             "reward model), judge:PRINCIPLE (the AI judge, position-swapped), rule:shorter:N, rule:longer:N (characters), rule:contains:PHRASE, rule:avoids:PHRASE, "
             "rule:regex:PATTERN, rule:json, rule:matches or rule:number (against the prompts' reference answers, "
             'imported as {"prompt", "answer"}); e.g. --reward-term 0.5*rm --reward-term 2*rule:number. '
             "Each term is plotted as reward/<term>")
FILE_HELP = ("a Python reward function as one more term: FUNCTION(prompts, answers, references) -> one number per "
             "answer, from a file you name (never stored with the run: give it again to resume)")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:,\d{3})*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Term:
    """One weighted term: its source (rm, rule or file), the rule or function and its argument, and its weight."""

    source: str
    rule: str = ""
    argument: str = ""
    weight: float = 1.0

    @property
    def name(self) -> str:
        """The term's metric name after `reward/`: reward_model, or the rule (with its argument) or function."""
        if self.source == RM:
            return "reward_model"
        label = f"{self.rule}:{self.argument}" if self.argument else self.rule
        return label if self.source == RULE else f"{self.source}:{label}"

    @property
    def text(self) -> str:
        """The term as written (weight first), as a run's config stores it."""
        body = RM if self.source == RM else f"{self.source}:{self.rule}" + (f":{self.argument}" if self.argument
                                                                            else "")
        return body if self.weight == 1 else f"{self.weight:g}*{body}"

    @property
    def needs_reference(self) -> bool:
        return self.source == RULE and self.rule in NEEDS_REFERENCE

    def target(self) -> int:
        """The target length of a shorter/longer rule."""
        return int(self.argument.removeprefix("target=").strip())

    def score(self, answer: str, reference: str | None = None) -> float:
        """This rule's score of `answer` (see the module's list); ValueError for a regex that runs too long."""
        if self.needs_reference and reference is None:
            raise ValueError(f"the term {self.text} needs a reference answer for every prompt")
        return rule_score(self.rule, self.argument, answer, reference)


def rule_score(rule: str, argument: str, answer: str, reference: str | None = None) -> float:
    """The score of `answer` under `rule` with its `argument` (see the module's list). Self-contained (json, math,
    `match_score`, `last_number`, `_normal`): exported TRL jobs carry its source (`core.job_rewards`)."""
    if rule in ("shorter", "longer"):
        target, length = int(argument.removeprefix("target=").strip()), len(answer)
        if rule == "shorter":
            return 1.0 if length <= target else target / length
        return 1.0 if length >= target else length / target
    if rule in ("contains", "avoids", "regex"):
        return match_score(rule, argument, answer)
    if rule == "json":
        try:
            json.loads(answer.strip())
        except ValueError:
            return 0.0
        return 1.0
    if reference is None:
        raise ValueError(f"the rule {rule} needs a reference answer for every prompt")
    if rule == "matches":
        return float(_normal(answer) == _normal(reference))
    found, wanted = last_number(answer), last_number(reference)
    return float(found is not None and wanted is not None and math.isclose(found, wanted, rel_tol=1e-9,
                                                                            abs_tol=1e-12))


def last_number(text: str) -> float | None:
    """The last number written in `text` (thousands commas allowed), as a float; None when there is none."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    value = float(found[-1].replace(",", ""))
    return value if math.isfinite(value) else None


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def split_weight(text: str) -> tuple[float, str]:
    """(weight, the rest) of `[WEIGHT*]REST`: the text before the first `*` is a weight when it holds no colon."""
    written = text.strip()
    head, star, rest = written.partition("*")
    if not star or ":" in head or head.strip() in (RM, RULE, FILE):
        return 1.0, written
    try:
        weight = float(head)
    except ValueError:
        raise ValueError(f"the weight {head.strip()!r} of reward term {written!r} is not a number") from None
    if not math.isfinite(weight):
        raise ValueError(f"the weight of reward term {written!r} must be a finite number")
    return weight, rest.strip()


def parse_term(text: str, files: Sequence[str] = ()) -> Term:
    """One term from its text; ValueError with one clear line otherwise. `files` are the names of the functions
    given with --reward-file this time (a `file:` term naming another one is refused)."""
    weight, written = split_weight(text)
    source, _, body = written.partition(":")
    source = source.strip().lower()
    if source == RM and not body:
        return Term(RM, weight=weight)
    if source == JUDGE:
        if not body.strip():
            raise ValueError(f"the reward term {text.strip()!r} needs a principle after judge:, e.g. "
                             "judge:prefer the answer that is correct and concise")
        return Term(JUDGE, body.strip(), weight=weight)
    if source == FILE and body:
        if body not in files:
            raise ValueError(f"the reward term {text.strip()!r} needs its Python file: give --reward-file "
                             f"PATH.py:{body.rpartition(':')[2]} again (code is never stored with a run)")
        return Term(FILE, body, weight=weight)
    if source != RULE:
        raise ValueError(f"cannot read the reward term {text.strip()!r}: {SYNTAX}")
    rule, _, argument = body.partition(":")
    return _checked(Term(RULE, rule.strip().lower(), argument, weight), text.strip())


def _checked(term: Term, text: str) -> Term:
    if term.rule not in RULES:
        raise ValueError(f"unknown rule {term.rule!r} in reward term {text!r}: choose one of {', '.join(RULES)}")
    if term.rule in ("shorter", "longer"):
        try:
            if term.target() < 1:
                raise ValueError
        except ValueError:
            raise ValueError(f"the reward term {text!r} needs a target length of at least 1 character, e.g. "
                             f"rule:{term.rule}:200") from None
        return Term(RULE, term.rule, str(term.target()), term.weight)  # target=N is written N
    elif term.rule in ("contains", "avoids", "regex"):
        Rule(term.rule, term.argument).checked()
    elif term.argument:
        raise ValueError(f"the rule {term.rule} takes no argument (reward term {text!r})")
    return term


def parse_terms(texts: Sequence[str] | None, files: Sequence[str] = ()) -> list[Term]:
    """The terms of a run (DEFAULT when none are given); a repeated term is refused."""
    terms = [parse_term(t, files) for t in (texts or DEFAULT)]
    names = [t.name for t in terms]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"the reward term {twice[0]} is given twice: give it once, with the weight you want")
    return terms


def is_default(terms: Sequence[Term]) -> bool:
    """Whether `terms` are the reward model alone with weight 1 (the reward of a run without terms)."""
    return [t.text for t in terms] == list(DEFAULT)


def uses_reward_model(terms: Sequence[Term]) -> bool:
    return any(t.source == RM for t in terms)


def check_references(terms: Sequence[Term], answers: dict[str, str | None], one_answer: bool = False) -> None:
    """Refuse terms that need a reference answer when a prompt has none (`answers`: prompt text -> its answer; a
    judge term too when the run writes `one_answer` per prompt, PPO), and a `rule:number` whose reference holds no
    number."""
    for term in (t for t in terms if t.needs_reference or (one_answer and t.source == JUDGE)):
        missing = [p for p, a in answers.items() if a is None]
        where = " (one answer per prompt: the judge compares with it)" if term.source == JUDGE else ""
        if missing:
            raise ValueError(f"the reward term {term.text} needs a reference answer for every prompt{where}, and "
                             f"{len(missing)} of {len(answers)} have none (e.g. {missing[0][:60]!r}): import "
                             'them as {"prompt", "answer"} lines')
        if term.source == RULE and term.rule == "number":
            bad = [a for a in answers.values() if last_number(a) is None]
            if bad:
                raise ValueError(f"the reward term {term.text} compares numbers, but the reference answer "
                                 f"{bad[0][:60]!r} holds none")


def terms_for_run(store, texts: Sequence[str] | None, files: Sequence[str] = (), one_answer: bool = False
                  ) -> list[Term]:
    """The checked terms of a run on `store`'s prompts: parsed, and the reference answers they need all there
    (`one_answer`: the run writes one answer per prompt, so a judge compares with the reference answer).
    The pre-flight check of the CLI and the Train page (ValueError, one line, before any model loads)."""
    terms = parse_terms(texts, files)
    check_references(terms, {p.text: p.answer for p in store.prompts()}, one_answer)
    return terms
