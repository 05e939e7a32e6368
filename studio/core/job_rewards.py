"""An online run's reward terms (`core.reward_terms`) in an exported job: what TRL can carry, and the reward
functions file that carries the rules.

TRL 1.16's GRPOTrainer and RLOOTrainer take `reward_funcs` (the reward model's folder first, then Python functions
named by import path) and `reward_weights`, one per function, and sum the weighted scores, as the studio sums its
terms. Each rule term becomes one function in `job_rewards.py` in the job folder, built from the source text of
the very functions the studio scores with (`rule_score`, `rules.match_score`, ...), so the two cannot drift; the
file needs only the standard library and `regex` (a dependency of transformers), never the studio. The prompts'
reference answers travel as the dataset's `answer` column, which TRL hands to every reward function.

The AI judge and --reward-file functions cannot go into a job (TRL has no judge, and a user's code is never
stored), and OpenRLHF's PPO job takes the reward model alone: such a run's export is refused with one line.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence

from studio.core import reward_terms, rules
from studio.core.reward_terms import DEFAULT, FILE, JUDGE, RM, RULE, TERMS_KEY, Term, is_default, parse_terms

FILE_NAME = "job_rewards.py"  # in the job folder, which TRL's scripts put first on sys.path
MODULE = FILE_NAME.removesuffix(".py")
REFERENCE_COLUMN = "answer"  # the dataset column with the prompts' reference answers (a reward function argument)
_COPIED = (rules.match_score, reward_terms.last_number, reward_terms._normal, reward_terms.rule_score)


def stored_terms(config: dict, run_id: int | None, engine: str) -> list[Term]:
    """The terms of a run's stored `config` (the reward model alone without any), refused with one line when
    `engine` ("trl" or "openrlhf") cannot carry one of them: the judge, a --reward-file function, and on OpenRLHF
    anything but the reward model alone with weight 1."""
    texts = config.get(TERMS_KEY) or list(DEFAULT)
    run = f"run {run_id}'s" if run_id is not None else "the"
    for text in texts:
        source = reward_terms.split_weight(text)[1].partition(":")[0].strip().lower()
        if source == JUDGE:
            raise ValueError(f"{run} reward term {text} cannot go into a job: TRL and OpenRLHF have no AI judge "
                             "(train without it, or train in the studio)")
        if source == FILE:
            raise ValueError(f"{run} reward term {text} cannot go into a job: a --reward-file function is never "
                             "stored with a run (train without it, or train in the studio)")
    terms = parse_terms(texts)
    if engine == "openrlhf" and [t.text for t in terms] != list(DEFAULT):
        other = next((t for t in terms if t.source != RM), terms[0])
        raise ValueError(f"{run} reward term {other.text} cannot go into a PPO job: OpenRLHF's PPO takes the "
                         "reward model alone, with weight 1 (train the PPO run in the studio, or export a GRPO or "
                         "RLOO run)")
    return terms


def rule_terms(terms: Sequence[Term]) -> list[Term]:
    return [t for t in terms if t.source == RULE]


def needs_references(terms: Sequence[Term]) -> bool:
    return any(t.needs_reference for t in terms)


def function_name(position: int, term: Term) -> str:
    """The job's function for the rule term at `position` (from 1) among the rule terms, e.g. rule_1_number."""
    return f"rule_{position}_{term.rule}"


def trl_reward_settings(terms: Sequence[Term], reward_model: str | None, reward_std: float = 1.0) -> dict:
    """TRL's `reward_model_name_or_path`, `reward_funcs` and `reward_weights` for `terms` (the reward model's
    weight first, as TRL's scripts put the model first). Beside other terms (or weighted) the studio scores with
    the reward model normalised, (raw - mean) / `reward_std`; TRL with its raw score: its weight is divided by
    `reward_std`, which leaves every advantage as the studio's (the mean, one constant, cancels within a group)."""
    rules_ = rule_terms(terms)
    model = next((t for t in terms if t.source == RM), None)
    settings: dict = {}
    if model is not None:
        settings["reward_model_name_or_path"] = reward_model
    if rules_:
        settings["reward_funcs"] = [f"{MODULE}.{function_name(i, t)}" for i, t in enumerate(rules_, 1)]
    if not is_default(terms):
        settings["reward_weights"] = ([model.weight / reward_std] if model is not None else []) + [
            t.weight for t in rules_]
    return settings


def rewards_source(terms: Sequence[Term]) -> str:
    """The text of `job_rewards.py`: the studio's scoring functions, copied, and one TRL reward function per rule
    term, called as TRL calls them: `f(prompts, completions, answer=..., **kwargs)`, one float per completion."""
    functions = "\n\n".join(inspect.getsource(f) for f in _COPIED)
    wrappers = "\n\n".join(_wrapper(function_name(i, t), t) for i, t in enumerate(rule_terms(terms), 1))
    return f'''"""Reward functions of a job exported by Alignment Studio: one per rule term of the run, scoring
exactly as the studio scores them (the functions below are copied from it). Needs only `regex` (transformers
requires it)."""
import json
import math
import re

import regex

MATCH_SECONDS = {rules.MATCH_SECONDS!r}
_NUMBER = re.compile({reward_terms._NUMBER.pattern!r})


{functions}

def _text(completion) -> str:
    """A completion's text: TRL passes a conversational completion as a list of messages."""
    return completion if isinstance(completion, str) else completion[-1]["content"]


{wrappers}
'''


def _wrapper(name: str, term: Term) -> str:
    """One rule term's TRL reward function; the term's texts go in as Python literals (`repr`), never as code."""
    rule = f"rule_score({term.rule!r}, {term.argument!r}, _text(c)"
    body = (f"return [{rule}, r) for c, r in zip(completions, {REFERENCE_COLUMN})]" if term.needs_reference
            else f"return [{rule}) for c in completions]")
    return f'''# the studio's reward term {term.text!r} (its weight is TRL's reward_weights entry)
def {name}(prompts, completions, {REFERENCE_COLUMN}=None, **kwargs) -> list[float]:
    {body}
'''


def readme_note(terms: Sequence[Term]) -> str:
    """The README's line on the run's reward."""
    note = f"The reward is the run's: {', '.join(t.text for t in terms)}"
    if rule_terms(terms):
        note += (f". TRL sums `reward_funcs` times `reward_weights` (`trl_config.yaml`); each rule is a function in "
                 f"`{FILE_NAME}`, scoring as the studio does")
    if needs_references(terms):
        note += f", against the prompts' reference answers (the `{REFERENCE_COLUMN}` column of the data)"
    if any(t.source == RM for t in terms) and not is_default(terms):
        note += (". TRL weights the reward model's raw score, where the studio weighted it normalised by its "
                 "training mean and std (`reward_model/config.json`): its weight here is the studio's divided by "
                 "that std, which gives the same advantages (the mean, a constant, cancels within each group)")
    return note + "."
