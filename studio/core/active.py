"""Active labelling in the store: the reward model's guesses, the "most informative first" queue,
unannounced repeats for self-consistency (of rankings and of ratings), and the project's labelling guidelines.

A guess is written for a comparison while it is still unranked (by `studio.training.uncertainty`),
so it is the model's honest, held-out guess: shown after the person decides, compared with their
decision for "agreement with the reward model", never used to anchor them.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from collections.abc import Collection
from typing import TYPE_CHECKING

from studio.core.preferences import check_order
from studio.core.records import Comparison, Prompt
from studio.core.store_base import RANKING_STATUSES, now

if TYPE_CHECKING:
    from studio.core.store import Store

QUEUE_ORDERS = ("uncertain", "arrival")
REPEAT_EVERY = 20       # one decision in 20 (5 %) is an unannounced repeat of an earlier one
REPEAT_AFTER = 10       # ... of a comparison ranked at least this many decisions ago



@dataclasses.dataclass(frozen=True)
class Guess:
    """The reward model's view of one comparison: P(each answer wins) (`probs`, averaged over the ensemble's
    heads), P(first wins), and `spread`: how far the heads disagree about the order of its answers (mutual
    information between each answer pair's outcome and the head, summed over the pairs, in nats; 0 for the
    margin method's single head; see `studio.training.uncertainty`).

    `unsure` is true when the ensemble's heads disagree about which answer wins.
    """

    comparison_id: int
    run_id: int
    p_first: float
    spread: float
    probs: list[float]
    unsure: bool
    method: str

    @property
    def best(self) -> int:
        return max(range(len(self.probs)), key=self.probs.__getitem__)


def save_guesses(store: Store, run_id: int, guesses: list[Guess]) -> int:
    """Store (or replace) run `run_id`'s guesses."""
    with store.transaction():
        store.db["rm_guesses"].insert_all(
            [{"comparison_id": g.comparison_id, "run_id": run_id, "p_first": g.p_first, "spread": g.spread,
              "probs": json.dumps(g.probs), "unsure": int(g.unsure), "method": g.method, "created": now()}
             for g in guesses], replace=True)
    return len(guesses)


def latest_reward_run(store: Store) -> int | None:
    row = store.db.execute("SELECT id FROM runs WHERE kind = 'reward' AND status = 'finished' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def guesses(store: Store, run_id: int | None = None, comparison_id: int | None = None) -> dict[int, Guess]:
    """Guesses by comparison id of run `run_id` (default: the latest finished reward run), of one
    comparison or all."""
    run_id = latest_reward_run(store) if run_id is None else run_id
    if run_id is None:
        return {}
    rows = store.db.query("SELECT * FROM rm_guesses WHERE run_id = :run AND (:c IS NULL OR comparison_id = :c)",
                          {"run": run_id, "c": comparison_id})
    return {r["comparison_id"]: Guess(r["comparison_id"], r["run_id"], r["p_first"], r["spread"],
                                      json.loads(r["probs"]), bool(r["unsure"]), r["method"]) for r in rows}


def unscored(store: Store, run_id: int) -> list[Comparison]:
    """Unranked comparisons run `run_id` has no guess for yet."""
    guessed = {row[0] for row in store.db.execute("SELECT comparison_id FROM rm_guesses WHERE run_id = ?", [run_id])}
    return [c for c in store.unranked_comparisons() if c.id not in guessed]


def pairwise_entropy(probs: list[float]) -> float:
    """How unsure a guess is about the order of all its answers: the sum over answer pairs of the entropy (nats)
    of P(i beats j) = p_i / (p_i + p_j), the Bradley-Terry pair of a Plackett-Luce model with these win
    probabilities (for one head: sigmoid of the score gap). A ranking settles all its pairs at once: a uniform
    4-way guess (6 coin flips, 6 ln 2) is less sure than one 2-way coin flip (ln 2)."""
    total = 0.0
    for a, b in itertools.combinations(probs, 2):
        p = a / (a + b) if a + b > 0 else 0.5
        total -= sum(q * math.log(q) for q in (p, 1 - p) if q > 0)
    return total


def informativeness(guess: Guess | None) -> tuple[float, float]:
    """Sort key, larger first: the ensemble's disagreement (spread), then how unsure the mean guess is about
    the order of all answers (`pairwise_entropy`); unscored last."""
    if guess is None:
        return (-1.0, -1.0)
    return (guess.spread, pairwise_entropy(guess.probs))


def order_queue(comparisons: list[Comparison], by_id: dict[int, Guess], order: str,
                head: list[int] | None = None) -> list[Comparison]:
    """`comparisons` most informative first ("uncertain") or as they arrived ("arrival"); stable. Those listed in
    `head` (a round's, `put_at_head`) come before all others, in its order."""
    if order not in QUEUE_ORDERS:
        raise ValueError(f"queue order must be one of {', '.join(QUEUE_ORDERS)}, got {order!r}")
    place = {cid: i for i, cid in enumerate(head or [])}
    if order == "arrival":
        return sorted(comparisons, key=lambda c: (place.get(c.id, len(place)), c.id))
    return sorted(comparisons, key=lambda c: (place.get(c.id, len(place)),
                                              *(-v for v in informativeness(by_id.get(c.id)))))


def queue(store: Store, annotator: str | None, order: str) -> list[Comparison]:
    """What `annotator` has left to rank, in the chosen order (a round's comparisons first)."""
    return order_queue(store.unranked_comparisons(annotator), guesses(store), order, queue_head(store))


def queue_head(store: Store) -> list[int]:
    """The comparisons that go before every other in the queue, first first (meta key `queue_head`)."""
    row = store.db.execute("SELECT value FROM meta WHERE key = 'queue_head'").fetchone()
    return json.loads(row[0]) if row else []


def put_at_head(store: Store, comparison_ids: list[int]) -> None:
    """Put `comparison_ids` at the head of the queue, before those already there."""
    ids = list(dict.fromkeys([*comparison_ids, *queue_head(store)]))
    with store.transaction():
        store.db.execute("INSERT OR REPLACE INTO meta VALUES ('queue_head', ?)", [json.dumps(ids)])


def unsure_count(store: Store, annotator: str | None = None) -> int:
    """How many comparisons left (for `annotator`) the latest reward model is unsure about."""
    run_id = latest_reward_run(store)
    if run_id is None:
        return 0
    return store.db.execute("SELECT count(*) FROM rm_guesses WHERE run_id = :run AND unsure AND comparison_id "
                            "NOT IN (SELECT comparison_id FROM rankings WHERE :a IS NULL OR annotator = :a)",
                            {"run": run_id, "a": annotator}).fetchone()[0]


def prompts_by_uncertainty(store: Store, prompts: list[Prompt]) -> list[Prompt]:
    """`prompts` with the reward model's least sure first: a prompt's spread is the largest over its
    scored comparisons; a prompt it has never scored counts as least known of all (it comes first)."""
    by_id = guesses(store)
    if not by_id:
        return prompts
    spread: dict[int, float] = {}
    for c in store.comparisons():
        if c.id in by_id:
            spread[c.prompt_id] = max(spread.get(c.prompt_id, 0.0), by_id[c.id].spread)
    return sorted(prompts, key=lambda p: -spread.get(p.id, float("inf")))


# -- self-consistency: unannounced repeats ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Repeat:
    """An earlier comparison shown again with its answers shuffled: screen position i is answer `shown[i]`."""

    comparison: Comparison
    shown: list[int]

    def on_screen(self) -> Comparison:
        c = self.comparison
        return dataclasses.replace(c, response_ids=[c.response_ids[i] for i in self.shown],
                                   responses=[c.responses[i] for i in self.shown])

    def original_order(self, order: list[list[int]]) -> list[list[int]]:
        """A ranking of screen positions as a ranking of the stored positions."""
        return [sorted(self.shown[p] for p in group) for group in order]


def _decisions(store: Store, annotator: str) -> int:
    return store.db.execute("SELECT (SELECT count(*) FROM rankings WHERE annotator = :a) + "
                            "(SELECT count(*) FROM repeats WHERE annotator = :a)", {"a": annotator}).fetchone()[0]


def due_repeat(store: Store, annotator: str, rng: random.Random | None = None) -> Repeat | None:
    """Every REPEAT_EVERY-th decision: one of the annotator's ranked comparisons (ranked at least
    REPEAT_AFTER decisions ago, never repeated), answers shuffled so they differ from the first showing."""
    done = _decisions(store, annotator)
    if done == 0 or done % REPEAT_EVERY:
        return None
    rows = store.db.execute("SELECT comparison_id, status FROM rankings WHERE annotator = ? ORDER BY id",
                            [annotator]).fetchall()
    ranked = [c for c, status in rows[:max(0, len(rows) - REPEAT_AFTER)] if status == "ranked"]
    repeated = {r[0] for r in store.db.execute("SELECT comparison_id FROM repeats WHERE annotator = ?", [annotator])}
    eligible = [c for c in ranked if c not in repeated]
    if not eligible:
        return None
    rng = rng or random.Random()
    comparison = store.comparison(rng.choice(eligible))
    k = len(comparison.responses)
    shown = list(range(k))
    while shown == list(range(k)):
        rng.shuffle(shown)
    return Repeat(comparison, shown)


def add_repeat(store: Store, repeat: Repeat, order: list[list[int]], annotator: str,
               status: str = "ranked") -> int:
    """Record the answer to a repeat (`order` in screen positions, as the person pressed it)."""
    if status not in RANKING_STATUSES:
        raise ValueError(f"ranking status must be one of {', '.join(RANKING_STATUSES)}, got {status!r}")
    if status == "ranked":
        check_order(order, len(repeat.shown))
    stored = repeat.original_order(order) if status == "ranked" else []
    with store.label_transaction():
        return store.db["repeats"].insert({"comparison_id": repeat.comparison.id, "annotator": annotator,
                                           "order": json.dumps(stored), "status": status,
                                           "created": now()}).last_pk


def delete_repeat(store: Store, repeat_id: int) -> None:
    with store.label_transaction():
        store.db.execute("DELETE FROM repeats WHERE id = ?", [repeat_id])


def repeats(store: Store) -> list[dict]:
    """Rows {id, comparison_id, annotator, order, status, created}, order in stored positions."""
    return [{**r, "order": json.loads(r["order"])} for r in store.db.query("SELECT * FROM repeats ORDER BY id")]



def due_rating_repeat(store: Store, annotator: str, skip: Collection[int] = (),
                      rng: random.Random | None = None) -> int | None:
    """Every REPEAT_EVERY-th rating decision: the response id of one of the annotator's rated answers
    (rated at least REPEAT_AFTER ratings ago, never repeated, not in `skip`), else None."""
    done = store.db.execute("SELECT (SELECT count(*) FROM ratings WHERE annotator = :a) + "
                            "(SELECT count(*) FROM rating_repeats WHERE annotator = :a)", {"a": annotator}).fetchone()[0]
    if done == 0 or done % REPEAT_EVERY:
        return None
    rated = [r[0] for r in store.db.execute("SELECT response_id FROM ratings WHERE annotator = ? ORDER BY id",
                                            [annotator])]
    repeated = {r[0] for r in store.db.execute("SELECT response_id FROM rating_repeats WHERE annotator = ?",
                                               [annotator])}
    eligible = [r for r in rated[:max(0, len(rated) - REPEAT_AFTER)] if r not in repeated and r not in skip]
    return (rng or random.Random()).choice(eligible) if eligible else None


def add_rating_repeat(store: Store, response_id: int, good: bool, annotator: str) -> int:
    """Record the answer to a rating repeat; the first rating stays as it was."""
    with store.label_transaction():
        return store.db["rating_repeats"].insert({"response_id": response_id, "annotator": annotator,
                                                  "label": int(good), "created": now()}).last_pk


def delete_rating_repeat(store: Store, repeat_id: int) -> None:
    with store.label_transaction():
        store.db.execute("DELETE FROM rating_repeats WHERE id = ?", [repeat_id])


def rating_repeats(store: Store) -> list[dict]:
    """Rows {id, response_id, annotator, label (1 good, 0 bad), created}, oldest first."""
    return list(store.db.query("SELECT * FROM rating_repeats ORDER BY id"))


# -- guidelines --------------------------------------------------------------------------------------------
def guidelines(store: Store) -> str:
    """The project's labelling guidelines (Markdown; "" when none were written)."""
    row = store.db.execute("SELECT value FROM meta WHERE key = 'guidelines'").fetchone()
    return row[0] if row else ""


def set_guidelines(store: Store, text: str) -> None:
    if not isinstance(text, str):
        raise ValueError(f"guidelines must be text, got {text!r}")
    with store.transaction():
        store.db.execute("INSERT OR REPLACE INTO meta VALUES ('guidelines', ?)", [text])
