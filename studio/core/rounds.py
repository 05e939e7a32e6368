"""Rounds of iterated RLHF, planned without torch: which answers make a round's comparisons, which runs form a
chain of rounds, when to stop, and the points of the round chart.

A round goes on from a finished online run (PPO, RLOO, GRPO) in two actions, because the person labels in between:
"sample" (`training.rounds.prepare_round`: gold checks of the run, fresh comparisons mixing the run's answers with
its starting policy's, both at the head of the queue) and "train" (`training.rounds.train_round`: the reward model
again on every label, warm-started from the last one, then the policy on from the run, the reference unchanged).
The runs a round trains store `_start` (the run the policy went on from) and `_warm` (the reward run the reward
model went on from); a round prepared but not trained yet is kept in the meta key `rounds`. A round samples K answers
per prompt as the project ranks them (`answers_per_prompt`), and is the one-click action of the hacking alarms that
labels can answer (`offer`): it samples the prompts they flagged first.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.core.answer_quality import nonword_share, repeats_itself, words
from studio.core.gold import gold_curve
from studio.core.monitor import ROUND_SIGNALS
from studio.core.oversight_store import alarms
from studio.core.records import Run
from studio.core.reward_terms import FILE, TERMS_KEY, split_weight
from studio.core.run_kinds import kinds

if TYPE_CHECKING:
    from studio.core.store import Store

POLICY, START = "policy", "start"  # where an answer of a round's comparison comes from
MIN_WORDS = 3  # an answer of fewer words is degenerate ("Breakfast.")
MAX_NONWORDS = 0.5  # ... and so is one whose words are mostly not word-like ("FrulebyFretled")
CAUTIOUS_PENALTY = 1.0  # the default uncertainty_penalty, which a round turns on after alarms (bench/RESULTS.md 36)


@dataclass(frozen=True)
class Answer:
    text: str
    source: str  # POLICY or START


def split_k(k: int) -> tuple[int, int]:
    """How many of a comparison's K answers the policy writes and how many its start: half each, the odd one to
    the policy."""
    if k < 2:
        raise ValueError(f"a comparison needs at least 2 answers per prompt, got {k}")
    return k - k // 2, k // 2


def answers_per_prompt(store: Store, given: int | None = None) -> int:
    """K, the answers a round samples per prompt: `given` (checked by `split_k`), else as the project uses them: the
    most common number of answers among its ranked comparisons (gold checks aside: they are always pairs), the
    larger on a tie, 2 without any."""
    if given is None:
        rows = store.db.execute("SELECT response_ids FROM comparisons WHERE id IN (SELECT comparison_id FROM rankings "
                                "WHERE status = 'ranked') AND id NOT IN (SELECT comparison_id FROM gold_checks)")
        counts = Counter(len(json.loads(ids)) for ids, in rows)
        given = max(counts, key=lambda k: (counts[k], k)) if counts else 2
    split_k(given)
    return given


def degenerate(text: str) -> bool:
    """Empty, under MIN_WORDS words, repeating itself, or mostly words that are not words (`answer_quality`)."""
    return len(words(text)) < MIN_WORDS or repeats_itself(text) or nonword_share(text) > MAX_NONWORDS


def mix(policy: list[str], start: list[str]) -> list[Answer] | None:
    """One comparison's answers, the policy's and the start's alternating, each distinct text once; None when
    fewer than 2 distinct answers are left or all of them are degenerate (such a comparison teaches nothing)."""
    tagged = [Answer(a, s) for pair in zip(policy, start) for a, s in zip(pair, (POLICY, START))]
    tagged += [Answer(a, POLICY) for a in policy[len(start):]] + [Answer(a, START) for a in start[len(policy):]]
    kept: list[Answer] = []
    for answer in tagged:
        if all(answer.text.strip() != k.text.strip() for k in kept):  # the first of equal texts
            kept.append(answer)
    if len(kept) < 2 or all(degenerate(a.text) for a in kept):
        return None
    return kept


def online_run(store: Store, ref: str | None) -> Run:
    """The finished online run `ref` names (default: the latest finished one of any online kind)."""
    if ref is None:
        done = [r for kind in kinds(online=True) for r in store.runs(kind) if r.status == "finished"]
        if not done:
            raise ValueError("a round goes on from a finished PPO, RLOO or GRPO run: train one first")
        return max(done, key=lambda r: r.id)
    run = store.resolve_run(ref)
    if run.kind not in kinds(online=True) or run.status != "finished":
        raise ValueError(f"run {run.id} is a {run.status} {run.kind} run: a round goes on from a finished PPO, "
                         "RLOO or GRPO run")
    return run


def chain(store: Store, run: Run) -> list[Run]:
    """The rounds that led to `run`, first first: each run's `_start` is the one before it."""
    runs = [run]
    while runs[0].config.get("_start"):
        runs.insert(0, store.run(int(runs[0].config["_start"])))
    return runs


def win_rate(store: Store, run: Run) -> float | None:
    """The person's gold win rate of the run's policy against its start, at its last gold-checked round."""
    curve = gold_curve(store, run.id)
    return curve[-1].gold_win_rate if curve else None


def stop_reason(rates: list[float | None]) -> str | None:
    """Why no further round should run, or None: the person's gold win rate of the last round is known and not
    above the round's before (it stopped rising). `rates` are the rounds' gold win rates, first first."""
    if len(rates) < 2 or rates[-1] is None or rates[-2] is None or rates[-1] > rates[-2]:
        return None
    n = len(rates)
    return (f"the gold win rate stopped rising ({rates[-2]:.0%} in round {n - 1}, {rates[-1]:.0%} in round {n}): "
            "no further round; the last round's policy is the one to keep")


@dataclass(frozen=True)
class RoundPoint:
    """One round on the round chart: proxy reward and gold win rate against KL (Gao et al.'s picture)."""

    round: int
    run_id: int
    kl: float | None  # the run's last KL to the reference (the same reference every round)
    proxy_reward: float | None  # the run's last mean reward-model score
    gold_win_rate: float | None  # the person's, against the starting policy (None: no gold check ranked)


def round_points(store: Store, run: Run) -> list[RoundPoint]:
    """One point per round of `run`'s chain."""
    points = []
    for i, r in enumerate(chain(store, run), 1):
        last: dict[str, float] = {}
        for row in store.metrics(r.id):
            last[row["name"]] = row["value"]
        points.append(RoundPoint(i, r.id, last.get("kl"), last.get("reward"), win_rate(store, r)))
    return points


def check_further(store: Store, run: Run) -> None:
    """Refuse (ValueError) a round after `run` once the gold win rate stopped rising."""
    reason = stop_reason([win_rate(store, r) for r in chain(store, run)])
    if reason:
        raise ValueError(reason)


# -- rounds prepared and not trained yet --------------------------------------------------------------------------
def prepared(store: Store, run_id: int) -> dict | None:
    """The round prepared after run `run_id`: {"run", "comparisons", "gold"}, or None."""
    return _prepared(store).get(str(run_id))


def record_prepared(store: Store, run_id: int, comparisons: list[int], gold: list[int]) -> None:
    """Keep the round prepared after run `run_id` (a second preparation adds to the first)."""
    rounds = _prepared(store)
    before = rounds.get(str(run_id), {"comparisons": [], "gold": []})
    rounds[str(run_id)] = {"run": run_id, "comparisons": before["comparisons"] + comparisons,
                           "gold": before["gold"] + gold}
    with store.transaction():
        store.db.execute("INSERT OR REPLACE INTO meta VALUES ('rounds', ?)", [json.dumps(rounds)])


def continued_by(store: Store, run_id: int) -> Run | None:
    """The run that went on from run `run_id` (a round already trained), if any."""
    return next((r for kind in kinds(online=True) for r in store.runs(kind)
                 if r.config.get("_start") == str(run_id)), None)


def check_continuable(run: Run) -> None:
    """Refuse (ValueError) a round after `run` that could never train: a round retrains the reward model the run
    maximised, and cannot run a --reward-file function again (its code is never stored)."""
    if not run.config.get("_reward"):
        raise ValueError(f"run {run.id} used no reward model: a round retrains the reward model it maximised")
    if any(split_weight(t)[1].partition(":")[0].strip().lower() == FILE for t in run.config.get(TERMS_KEY) or []):
        raise ValueError(f"run {run.id} used a --reward-file function, whose code is never stored: a round cannot "
                         "run it again; train a new run giving --reward-file instead")


def check_sample(store: Store, run: Run) -> None:
    """Refuse (ValueError) sampling a round after `run` that could never train (`check_continuable`), once the gold
    win rate stopped rising, or when a round after it was already trained; torch-free, so that the refusal comes
    before the model loads."""
    check_continuable(run)
    check_further(store, run)
    after = continued_by(store, run.id)
    if after is not None:
        raise ValueError(f"run {run.id} already went on in run {after.id}: a round goes on from the latest")


def round_penalty(store: Store, run: Run) -> float | None:
    """The cautious reward the round after `run` optimises: CAUTIOUS_PENALTY (the default) when the run was set to
    optimise the reward model's own score (uncertainty_penalty 0) and raised an alarm that a round answers
    (`ROUND_SIGNALS`), a sign that the policy found where the labels do not reach; None keeps the run's own."""
    if run.config.get("uncertainty_penalty") != 0:  # already cautious, or a kind without the setting
        return None
    return CAUTIOUS_PENALTY if any(a.signal in ROUND_SIGNALS for _, a in alarms(store, run.id)) else None


def next_action(store: Store, run: Run) -> str:
    """"train" when a round after `run` is prepared and not trained, else "sample"."""
    return "train" if prepared(store, run.id) and continued_by(store, run.id) is None else "sample"


def next_step(store: Store, run: Run) -> tuple[str, float | None]:
    """The round after `run`'s next action (`next_action`) and, for "train", the cautious reward it turns on
    (`round_penalty`; None for "sample" or when it turns none on)."""
    action = next_action(store, run)
    return action, round_penalty(store, run) if action == "train" else None


@dataclass(frozen=True)
class Offer:
    """The round an alarm on run `run_id` offers: its next `action` ("sample" or "train", `next_action`), why it
    cannot be taken now (`refused`, one line; None when it can) and the cautious reward it trains with."""

    run_id: int
    action: str
    refused: str | None
    penalty: float | None = None  # "train": the cautious reward it turns on (`round_penalty`), None if it does not


def offer(store: Store, run_id: int) -> Offer:
    """The round after run `run_id`, as its alarms offer it (the checks that need no model)."""
    run = store.run(run_id)
    action, penalty = next_step(store, run)
    try:
        online_run(store, str(run.id))
        if action == "sample":
            check_sample(store, run)
        else:
            check_continuable(run)
    except ValueError as exc:
        return Offer(run.id, action, str(exc))
    return Offer(run.id, action, None, penalty)


def _prepared(store: Store) -> dict[str, dict]:
    row = store.db.execute("SELECT value FROM meta WHERE key = 'rounds'").fetchone()
    return json.loads(row[0]) if row else {}
