"""One-key ratings: one answer at a time judged good or bad, the labels KTO learns from.

A rating is (prompt, response, label 1 good / 0 bad, annotator, time), one per response and annotator:
rating a response again replaces the earlier rating. Ratings also give preference pairs: when one
annotator liked some answers to a prompt and disliked others, every liked answer beats every disliked
one, and those pairs share weight 1 (as the C(K,2) pairs of one K-way ranking do in InstructGPT), so a
prompt with many rated answers does not outweigh a ranked comparison.

Files use TRL's unpaired preference format, one `{"prompt", "completion", "label": true|false}` per line
(an optional "annotator" too on import).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from studio.core.bulk_insert import ids_by_content
from studio.core.jsonl import _Invalid, _read, _string, parse_record, write_jsonl
from studio.core.preferences import pairs_from_ranking, ranking_record
from studio.core.records import PreferencePair
from studio.core.store import Store
from studio.core.store_base import now

IMPORT_ANNOTATOR = "import"


@dataclass(frozen=True)
class Rating:
    """`label` is True for a good answer, False for a bad one."""

    id: int
    prompt_id: int
    response_id: int
    label: bool
    annotator: str
    created: str


@dataclass(frozen=True)
class RateItem:
    """An answer waiting for a rating, with its prompt."""

    response_id: int
    prompt_id: int
    prompt: str
    response: str


@dataclass(frozen=True)
class RatingLine:
    prompt: str
    completion: str
    label: bool
    annotator: str
    line: int


class Ratings:
    """The ratings of one Store (it shares the store's connection, so use it on the store's thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rows(self, sql: str, params=()) -> list[dict]:
        return list(self.store.db.query(sql, params))

    def add(self, response_id: int, good: bool, annotator: str = "me") -> int:
        """Rate a response good or bad and return the rating id; replaces this annotator's earlier rating."""
        if not isinstance(good, bool):
            raise ValueError(f"a rating is True (good) or False (bad), got {good!r}")
        if not isinstance(annotator, str) or not annotator.strip():
            raise ValueError(f"annotator must be a non-empty string, got {annotator!r}")
        with self.store.label_transaction():
            found = self._rows("SELECT prompt_id FROM responses WHERE id = ?", [response_id])
            if not found:
                raise LookupError(f"no response with id {response_id}")
            self.store.db.execute("DELETE FROM ratings WHERE response_id = ? AND annotator = ?",
                                  [response_id, annotator])
            return self.store.db["ratings"].insert({
                "prompt_id": found[0]["prompt_id"], "response_id": response_id, "label": int(good),
                "annotator": annotator, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }).last_pk

    def delete(self, rating_id: int) -> Rating:
        """Delete a rating (undo) and return it."""
        with self.store.label_transaction():
            found = self._rows("SELECT * FROM ratings WHERE id = ?", [rating_id])
            if not found:
                raise LookupError(f"no rating with id {rating_id}")
            self.store.db.execute("DELETE FROM ratings WHERE id = ?", [rating_id])
        return _rating(found[0])

    def list(self, annotator: str | None = None) -> list[Rating]:
        """Every rating (or `annotator`'s), oldest first."""
        rows = self._rows("SELECT * FROM ratings WHERE ? IS NULL OR annotator = ? ORDER BY id", [annotator, annotator])
        return [_rating(row) for row in rows]

    def _items(self, where: str, params: list | dict) -> list[RateItem]:
        return [RateItem(**row) for row in self._rows(
            "SELECT r.id AS response_id, r.prompt_id, p.text AS prompt, r.text AS response FROM responses r "
            f"JOIN prompts p ON p.id = r.prompt_id {where}", params)]

    def unrated(self, annotator: str | None, skip: list[int] = (), limit: int | None = None) -> list[RateItem]:
        """Answers `annotator` (None: anyone) has not rated, leaving out the response ids in `skip`, oldest first."""
        return self._items("WHERE r.id NOT IN (SELECT response_id FROM ratings WHERE :a IS NULL OR annotator = :a) "
                           "AND r.id NOT IN (SELECT value FROM json_each(:skip)) ORDER BY r.id LIMIT :limit",
                           {"a": annotator, "skip": _json_ids(skip), "limit": -1 if limit is None else limit})

    def item(self, response_id: int) -> RateItem:
        """One answer with its prompt, to show it again (undo)."""
        found = self._items("WHERE r.id = ?", [response_id])
        if not found:
            raise LookupError(f"no response with id {response_id}")
        return found[0]

    def count_unrated(self, annotator: str) -> int:
        return self.store.db.execute("SELECT count(*) FROM responses WHERE id NOT IN "
                                     "(SELECT response_id FROM ratings WHERE annotator = ?)", [annotator]).fetchone()[0]

    def totals(self) -> tuple[int, int]:
        """How many ratings say good, and how many bad (all annotators)."""
        good, total = self.store.db.execute("SELECT coalesce(sum(label), 0), count(*) FROM ratings").fetchone()
        return good, total - good

    def counts(self) -> dict[str, int]:
        """Totals for `status`: ratings, good, bad, and the preference pairs they imply."""
        good, bad = self.totals()
        return {"ratings": good + bad, "rated_good": good, "rated_bad": bad, "rating_pairs": len(self.pairs())}

    def pairs(self) -> list[PreferencePair]:
        """(liked, disliked) pairs per prompt and annotator; each group's pairs share weight 1.

        `comparison_id` is None: these pairs come from ratings, not from a comparison.
        """
        return [PreferencePair(r["prompt"], r["responses"][a], r["responses"][b], weight, None)
                for r in self.rankings() for a, b, weight in pairs_from_ranking(r["order"])]

    def rankings(self) -> list[dict]:
        """Per prompt and annotator with both kinds of rating, the 2-group ranking [liked answers, disliked
        answers] (`preferences.ranking_record`, comparison_id None): what `pairs` decomposes."""
        groups: dict[tuple[int, str], list[list[dict]]] = defaultdict(lambda: [[], []])
        rows = self._rows("SELECT g.prompt_id, g.annotator, g.label, p.text AS prompt, r.text AS response "
                          "FROM ratings g JOIN prompts p ON p.id = g.prompt_id "
                          "JOIN responses r ON r.id = g.response_id ORDER BY g.prompt_id, g.annotator, g.id")
        for row in rows:
            groups[row["prompt_id"], row["annotator"]][1 - row["label"]].append(row)
        return [ranking_record(liked[0]["prompt"], [row["response"] for row in liked + disliked],
                               [list(range(len(liked))), list(range(len(liked), len(liked) + len(disliked)))], None)
                for liked, disliked in groups.values() if liked and disliked]

    def examples(self) -> list[dict]:
        """Every rating as a KTO example {prompt, completion, label}, oldest first."""
        return [{"prompt": row["prompt"], "completion": row["response"], "label": bool(row["label"])}
                for row in self._rows("SELECT p.text AS prompt, r.text AS response, g.label FROM ratings g "
                                      "JOIN prompts p ON p.id = g.prompt_id "
                                      "JOIN responses r ON r.id = g.response_id ORDER BY g.id")]


def kto_weight_advice(good: int, bad: int, desirable_weight: float = 1.0, undesirable_weight: float = 1.0
                      ) -> str | None:
    """TRL's check of the KTO weights (KTO paper, Eq. 8): with unequal numbers of good and bad answers,
    desirable_weight x good should be 1 to 4/3 times undesirable_weight x bad. A sentence suggesting a range
    for either weight when neither is in its range, else None."""
    if not good or not bad or good == bad:
        return None
    desirable = (bad * undesirable_weight / good, bad * undesirable_weight / good * 1.33)
    undesirable = (good * desirable_weight / bad / 1.33, good * desirable_weight / bad)
    if desirable[0] <= desirable_weight <= desirable[1] or undesirable[0] <= undesirable_weight <= undesirable[1]:
        return None
    return (f"{good} answers rated good and {bad} bad: for KTO set desirable_weight to {desirable[0]:.2f}-"
            f"{desirable[1]:.2f} or undesirable_weight to {undesirable[0]:.2f}-{undesirable[1]:.2f} (not both)")


def _rating(row: dict) -> Rating:
    return Rating(**{**row, "label": bool(row["label"])})


def _json_ids(ids) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


# -- files ----------------------------------------------------------------------------------------------
def _label(obj: dict, line: int) -> tuple[bool, str]:
    """The label and annotator of one rating."""
    label = obj.get("label")
    if "label" not in obj:
        raise _Invalid('missing key "label"')
    if not isinstance(label, bool):
        raise _Invalid(f'"label" must be true or false, got {label!r}')
    return label, _string(obj, "annotator") if "annotator" in obj else IMPORT_ANNOTATOR


def _rating_line(obj: dict, line: int) -> RatingLine:
    label, annotator = _label(obj, line)
    return RatingLine(_string(obj, "prompt"), _string(obj, "completion"), label, annotator, line)


def rating_label(obj: dict) -> tuple[bool, str]:
    """The {"label", "annotator"} of a rating that comes from elsewhere (a pack's row), checked exactly as
    `read_ratings` checks a line's; ValueError names the bad field."""
    return parse_record(_label, obj)


def read_ratings(path: str | Path) -> list[RatingLine]:
    """Parse a whole TRL unpaired file, or raise JsonlError naming the first bad line."""
    return _read(path, _rating_line)


def import_ratings(store: Store, path: str | Path) -> int:
    """Add every line as a rating, all or nothing, in one batch; an answer already stored for the prompt is
    reused, and a line replaces its annotator's earlier rating of the answer (a later line an earlier one),
    so importing the same file twice changes nothing but the ratings' times."""
    lines = read_ratings(path)
    stamp = now()
    with store.transaction():
        prompt_ids = store.add_prompts([r.prompt for r in lines])
        answers = [(prompt_ids[r.prompt.strip()], r.completion) for r in lines]
        response_ids = ids_by_content(store, "responses", ("prompt_id", "text"), answers,
                                      "prompt_id, text, policy, settings, created", ("imported", "{}", stamp))
        latest: dict[tuple[int, str], tuple] = {}
        for answer, r in zip(answers, lines):
            key = (response_ids[answer], r.annotator)
            latest.pop(key, None)  # a later line replaces an earlier one, as rating again does
            latest[key] = (answer[0], *key, int(r.label), stamp)
        store.db.conn.executemany("DELETE FROM ratings WHERE response_id = ? AND annotator = ?", list(latest))
        store.db.conn.executemany("INSERT INTO ratings (prompt_id, response_id, annotator, label, created) "
                                  "VALUES (?, ?, ?, ?, ?)", list(latest.values()))
    return len(lines)


def export_ratings(store: Store, path: str | Path) -> int:
    """Write every rating as a TRL unpaired line {"prompt", "completion", "label"}, oldest first."""
    return write_jsonl(path, Ratings(store).examples())


def training_pairs(store: Store) -> list[PreferencePair]:
    """Every pair the reward model and DPO learn from: the rankings' pairs, then the ratings'."""
    return store.preference_pairs() + Ratings(store).pairs()


def training_rankings(store: Store) -> list[dict]:
    """The same data whole (`preferences.ranking_record`): the rankings, then each prompt's and annotator's
    ratings as [liked, disliked]; `preferences.pair_records` of it is `training_pairs`."""
    return store.ranked_answers() + Ratings(store).rankings()
