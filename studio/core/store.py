"""The SQLite store: prompts, demonstrations, responses, comparisons, rankings, runs and their metrics.

`Store` gathers the tables' methods (`store_demos`, `store_labels`, `store_runs`) over one connection
(`store_base`); the schema and its migrations live in `migrations`.
"""
from __future__ import annotations

from studio.core.store_base import StoreError
from studio.core.store_demos import PromptsAndDemos
from studio.core.store_labels import ComparisonsAndRankings
from studio.core.store_runs import RunsAndMetrics

__all__ = ["Store", "StoreError"]


class Store(PromptsAndDemos, ComparisonsAndRankings, RunsAndMetrics):
    """Everything a project records, in one SQLite file (`Store(None)`: in memory).

    Every write commits at once; group writes with `transaction()`. One Store per thread.
    """

    def counts(self) -> dict[str, int]:
        """Totals for a status line; a comparison is "ranked" once anyone ranked, skipped or rejected it."""
        comparisons = self._count("SELECT count(*) FROM comparisons")
        ranked = self._count("SELECT count(DISTINCT comparison_id) FROM rankings")
        return {
            "prompts": self._count("SELECT count(*) FROM prompts"),
            "demonstrations": self._count("SELECT count(*) FROM demonstrations"),
            "comparisons": comparisons,
            "ranked": ranked,
            "unranked": comparisons - ranked,
            "rankings": self._count("SELECT count(*) FROM rankings"),
            "pairs": len(self.preference_pairs()),
            "runs": self._count("SELECT count(*) FROM runs"),
        }

