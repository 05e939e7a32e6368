"""The store's comparisons (2..K responses to one prompt) and their rankings, and the pairs they imply."""
from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence

from studio.core.preferences import check_order, pairs_from_ranking, ranking_record
from studio.core.records import Comparison, PreferencePair, Ranking
from studio.core.store_base import RANKING_STATUSES, StoreBase, now, required_text


class ComparisonsAndRankings(StoreBase):
    """Comparisons to rank, the rankings annotators gave, and the preference pairs those rankings imply."""

    def add_comparison(self, prompt_id: int, response_ids: Sequence[int]) -> int:
        """Group 2..K responses to the same prompt for ranking."""
        ids = list(response_ids)
        if len(ids) < 2:
            raise ValueError(f"a comparison needs at least 2 responses, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"a comparison lists each response once, got {ids}")
        with self.transaction():
            self.get_row("prompts", prompt_id, "prompt")
            for rid in ids:
                answered = self.get_row("responses", rid, "response")["prompt_id"]
                if answered != prompt_id:
                    raise ValueError(f"response {rid} answers prompt {answered}, not prompt {prompt_id}")
            return self.insert_row("comparisons", {"prompt_id": prompt_id, "response_ids": json.dumps(ids),
                                                "created": now()})

    def _comparisons(self, where: str = "", params: Sequence = ()) -> list[Comparison]:
        rows = self.select_rows("SELECT c.id, c.prompt_id, p.text AS prompt, c.response_ids, c.created "
                          f"FROM comparisons c JOIN prompts p ON p.id = c.prompt_id {where} ORDER BY c.id",
                          params)
        for row in rows:
            row["response_ids"] = json.loads(row["response_ids"])
        wanted = [rid for row in rows for rid in row["response_ids"]]
        texts = dict(self.db.execute("SELECT id, text FROM responses WHERE id IN "
                                     "(SELECT value FROM json_each(?))", [json.dumps(wanted)]).fetchall())
        return [Comparison(**row, responses=[texts[i] for i in row["response_ids"]]) for row in rows]

    def comparison(self, id: int) -> Comparison:
        found = self._comparisons("WHERE c.id = ?", [id])
        if not found:
            raise LookupError(f"no comparison with id {id}")
        return found[0]

    def comparisons(self) -> list[Comparison]:
        return self._comparisons()

    def unranked_comparisons(self, annotator: str | None = None) -> list[Comparison]:
        """Comparisons nobody (or not `annotator`) has ranked, skipped or marked all bad."""
        return self._comparisons("WHERE c.id NOT IN (SELECT comparison_id FROM rankings "
                                 "WHERE ? IS NULL OR annotator = ?)", [annotator, annotator])

    def add_ranking(self, comparison_id: int, order: list[list[int]], annotator: str = "me",
                    status: str = "ranked") -> int:
        """Record a best-first ranking such as [[0], [2, 1]] (ties share a group).

        `status` "skip" or "all_bad" takes `order=[]`. Replaces this annotator's earlier
        ranking of the same comparison.
        """
        if status not in RANKING_STATUSES:
            raise ValueError(f"ranking status must be one of {', '.join(RANKING_STATUSES)}, got {status!r}")
        annotator = required_text(annotator, "annotator")
        with self.label_transaction():
            comparison = self.get_row("comparisons", comparison_id, "comparison")
            if status == "ranked":
                check_order(order, len(json.loads(comparison["response_ids"])))
            elif order:
                raise ValueError(f'a "{status}" ranking takes no order, got {order!r}')
            self.db.execute("DELETE FROM rankings WHERE comparison_id = ? AND annotator = ?",
                            [comparison_id, annotator])
            return self.insert_row("rankings", {"comparison_id": comparison_id, "annotator": annotator,
                                             "order": json.dumps(order), "status": status,
                                             "created": now()})

    def delete_ranking(self, id: int) -> None:
        with self.label_transaction():
            self.get_row("rankings", id, "ranking")
            self.db.execute("DELETE FROM rankings WHERE id = ?", [id])

    def restore_ranking(self, ranking: Ranking) -> None:
        """Put back a deleted ranking under its old id and time (undo of a ranking that replaced it)."""
        with self.label_transaction():
            if self.select_rows("SELECT id FROM rankings WHERE id = ?", [ranking.id]):
                raise ValueError(f"ranking {ranking.id} already exists")
            self.db["rankings"].insert({**dataclasses.asdict(ranking), "order": json.dumps(ranking.order)})

    def rankings(self, comparison_id: int | None = None) -> list[Ranking]:
        """Rankings ordered by comparison id, then ranking id."""
        rows = self.select_rows("SELECT * FROM rankings WHERE ? IS NULL OR comparison_id = ? "
                          "ORDER BY comparison_id, id", [comparison_id, comparison_id])
        return [Ranking(**{**row, "order": json.loads(row["order"])}) for row in rows]

    def agreement(self, comparison_id: int) -> float | None:
        """Fraction of annotator pairs with the same top group; None with fewer than 2 rankers."""
        self.get_row("comparisons", comparison_id, "comparison")
        tops = [set(r.order[0]) for r in self.rankings(comparison_id) if r.status == "ranked"]
        pairs = list(itertools.combinations(tops, 2))
        return sum(a == b for a, b in pairs) / len(pairs) if pairs else None

    def ranked_answers(self) -> list[dict]:
        """Every ranking that orders something, whole (`preferences.ranking_record`): the rankings that imply
        the pairs of `preference_pairs`, in the same order."""
        comparisons = {c.id: c for c in self._comparisons()}
        return [ranking_record(c.prompt, c.responses, r.order, c.id)
                for r in self.rankings() if r.status == "ranked" and len(r.order) > 1
                for c in [comparisons[r.comparison_id]]]

    def preference_pairs(self) -> list[PreferencePair]:
        """Every (chosen, rejected) pair implied by the rankings; each ranking's pairs weigh 1 in all."""
        comparisons = {c.id: c for c in self._comparisons()}
        pairs = []
        for ranking in self.rankings():
            if ranking.status == "ranked":
                c = comparisons[ranking.comparison_id]
                pairs += [PreferencePair(c.prompt, c.responses[a], c.responses[b], weight, c.id)
                          for a, b, weight in pairs_from_ranking(ranking.order)]
        return pairs
