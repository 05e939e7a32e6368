"""An online run's reward made of weighted terms (`core.reward_terms`): the round's score function and its metrics.

`TermReward` stands where `uncertainty.OnlineReward` stands in the engines' uniform call (`score_fn(normalised,
penalty, in_reach)`, `norm`). Each round every term scores every answer; an answer's score is the weighted sum, and
each term's mean over the round's answers (unweighted, in its own units) is the round metric `reward/<term name>`,
so a chart shows which term moved. The reward model's term is its score normalised by its training statistics (the
engines' own units), its round metrics (ensemble_disagreement, uncertainty_penalty, outside_reach) passed on. The
reward model alone with weight 1 (a run without terms) scores exactly as `OnlineReward` does, raw or normalised as
the engine asks.

A Python reward function comes only from a file the user names on the command line (`load_function`), called as
`function(prompts, answers, references) -> one number per answer` (references: the prompts' reference answers,
None where a prompt has none).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from studio.core.ai_feedback import combine_orders
from studio.core.reward_terms import FILE, JUDGE, RM, Term, is_default, split_weight
from studio.training.engine import ScoreFn, Scores
from studio.training.judge import Judge
from studio.training.uncertainty import OnlineReward

RewardFunction = Callable[[list[str], list[str], list[str | None]], Sequence[float]]


def file_spec(spec: str) -> tuple[str, Path]:
    """(function name, file) of `PATH.py:FUNCTION`, checked without running the file; ValueError with one line."""
    path_text, colon, name = spec.rpartition(":")
    path = Path(path_text)
    if not colon or not name.isidentifier() or path.suffix != ".py":
        raise ValueError(f"--reward-file takes PATH.py:FUNCTION, got {spec!r}")
    if not path.is_file():
        raise ValueError(f"--reward-file: {path} is not a file")
    return name, path


def load_function(spec: str) -> tuple[str, RewardFunction]:
    """(function name, function) from `PATH.py:FUNCTION`, a file the user named; ValueError with one line
    otherwise. Runs the file's top-level code, so call it only for a path given on the command line, and only once
    the command has passed every other check."""
    name, path = file_spec(spec)
    module_spec = importlib.util.spec_from_file_location(f"studio_reward_file_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"--reward-file: {path} defines no function {name}")
    return name, function


def command_line(terms: list[str] | None, files: list[str] | None) -> tuple[list[str] | None, dict[str, str]]:
    """The terms' texts of `--reward-term` and `--reward-file [WEIGHT*]PATH.py:FUNCTION` (each file a term
    `file:FUNCTION`; None when neither is given: the reward model alone) and the files (name -> PATH.py:FUNCTION),
    checked but not run: `load_functions` runs them."""
    specs: dict[str, str] = {}
    texts = list(terms or [])
    for spec in files or []:
        weight, body = split_weight(spec)
        name, _ = file_spec(body)
        specs[name] = body
        texts.append(f"{weight:g}*file:{name}")
    return texts or None, specs


def load_functions(specs: dict[str, str]) -> dict[str, RewardFunction]:
    """The functions of `command_line`'s files (name -> function): runs each file's top-level code."""
    return dict(load_function(spec) for spec in specs.values())


@dataclass
class TermReward:
    """The terms, the reward model when a term uses it, the prompts' reference answers (prompt text -> answer),
    the Python functions given with --reward-file (name -> function), and the judge when a term uses it."""

    terms: list[Term]
    model: OnlineReward | None
    references: dict[str, str | None] = field(default_factory=dict)
    functions: dict[str, RewardFunction] = field(default_factory=dict)
    judge: Judge | None = None

    def score_fn(self, normalised: bool, penalty: float = 0.0, in_reach: bool = False) -> ScoreFn:
        """The round's score function; the reward model alone (weight 1) keeps the engine's `normalised`."""
        if is_default(self.terms):
            inner = self.model.score_fn(normalised, penalty, in_reach)

            def alone(prompts: list[str], responses: list[str]) -> Scores:
                scores = inner(prompts, responses)
                values = scores.values if isinstance(scores, Scores) else scores
                metrics = dict(scores.metrics) if isinstance(scores, Scores) else {}
                return Scores(values, {**metrics, "reward/reward_model": torch.as_tensor(values).float().mean().item()})
            return alone
        model_fn = self.model.score_fn(True, penalty, in_reach) if self.model is not None else None

        def score(prompts: list[str], responses: list[str]) -> Scores:
            total, metrics = torch.zeros(len(responses)), {}
            for term in self.terms:
                values, extra = self._term_scores(term, model_fn, prompts, responses)
                metrics.update(extra)
                metrics[f"reward/{term.name}"] = values.mean().item()
                total = total + term.weight * values
            return Scores(total, metrics)
        return score

    def _term_scores(self, term: Term, model_fn: ScoreFn | None, prompts: list[str], responses: list[str]
                     ) -> tuple[torch.Tensor, dict[str, float]]:
        """One term's (unweighted) scores of the round's answers, and the reward model's round metrics."""
        if term.source == RM:
            scores = model_fn(prompts, responses)
            if isinstance(scores, Scores):
                return torch.as_tensor(scores.values).float().cpu().flatten(), dict(scores.metrics)
            return torch.as_tensor(scores).float().cpu().flatten(), {}
        references = [self.references.get(p) for p in prompts]
        if term.source == JUDGE:
            return torch.tensor(judge_scores(self.judge, term.rule, prompts, responses, self.references)), {}
        if term.source == FILE:
            values = [float(v) for v in self.functions[term.rule](list(prompts), list(responses), references)]
            if len(values) != len(responses):
                raise ValueError(f"the reward function {term.rule} returned {len(values)} scores for "
                                 f"{len(responses)} answers")
            return torch.tensor(values), {}
        return torch.tensor([term.score(r, ref) for r, ref in zip(responses, references)]), {}

    @property
    def norm(self) -> tuple[float, float]:
        """PPO's (mean, std) for raw scores: the reward model's alone; terms are already in their own units."""
        return self.model.norm if is_default(self.terms) else (0.0, 1.0)


def judge_scores(judge: Judge, principle: str, prompts: list[str], responses: list[str],
                 references: dict[str, str | None]) -> list[float]:
    """Per answer, the mean over its pairs of +1 (the judge prefers it in both orders), -1 (the other, in both) or
    0 (the orders disagree); its pairs: the other answers to its prompt, else the prompt's reference answer."""
    rows: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        rows.setdefault(prompt, []).append(i)
    out = [0.0] * len(responses)
    for prompt, idx in rows.items():
        texts = [responses[i] for i in idx]
        pairs = [(a, b) for a in range(len(idx)) for b in range(len(idx)) if a < b]
        if not pairs:
            texts.append(references[prompt])  # PPO: the answer against the reference (checked before the run)
            pairs = [(0, 1)]
        p = judge.p_first(principle, prompt, [(texts[a], texts[b]) for a, b in pairs] +
                          [(texts[b], texts[a]) for a, b in pairs])
        totals = [0.0] * len(texts)
        for (a, b), ab, ba in zip(pairs, p[:len(pairs)], p[len(pairs):]):
            verdict = combine_orders(ab, ba)
            if verdict is not None:
                winner, loser = (a, b) if verdict[0] == 0 else (b, a)
                totals[winner] += 1.0
                totals[loser] -= 1.0
        for position, i in enumerate(idx):
            out[i] = totals[position] / max(len(texts) - 1, 1)
    return out
