"""Domain records returned by the store: plain frozen dataclasses, no behaviour."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    id: int
    text: str
    created: str
    answer: str | None = None  # the reference answer given with the prompt, if any


@dataclass(frozen=True)
class Demo:
    """A demonstration for SFT: a prompt, the response we want, an optional system message."""

    id: int
    prompt: str
    response: str
    system: str | None
    created: str
    updated: str


@dataclass(frozen=True)
class Response:
    """One generated or imported answer; `policy` is "base", "imported" or a run id as text."""

    id: int
    prompt_id: int
    text: str
    policy: str
    settings: dict
    created: str
    cut: bool | None = None  # stopped at the token limit mid-sentence; None: not known (imported, or older)


@dataclass(frozen=True)
class Comparison:
    """K >= 2 responses to one prompt, shown side by side for ranking."""

    id: int
    prompt_id: int
    prompt: str
    response_ids: list[int]
    responses: list[str]
    created: str


@dataclass(frozen=True)
class Ranking:
    """Best-first groups of response positions (ties share a group); `order` is [] unless ranked."""

    id: int
    comparison_id: int
    annotator: str
    order: list[list[int]]
    status: str
    created: str


@dataclass(frozen=True)
class PreferencePair:
    """`comparison_id` is None for a pair implied by one-key ratings."""

    prompt: str
    chosen: str
    rejected: str
    weight: float
    comparison_id: int | None


@dataclass(frozen=True)
class Run:
    """One training run; `parent` is the run it started from, `artifact` its output folder."""

    id: int
    kind: str
    config: dict
    status: str
    parent: int | None
    artifact: str | None
    step: int
    final_metrics: dict
    error: str | None
    created: str
    finished: str | None
