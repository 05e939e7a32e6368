"""How far labels can be trusted: Krippendorff's alpha between annotators, each annotator's agreement
with themselves (unannounced repeats of rankings and ratings) and with the reward model, and their labelling pace.

Units for alpha (ordinal level, computed by the `krippendorff` package): each answer of a ranked
comparison, valued by its place (0 = best group; ties share a place), and each rated answer, valued
0 (good) or 1 (bad), so a lower value is better on both scales. Ratings come from the `ratings`
table (id, prompt_id, response_id, label 1/0, annotator, created) when the project has one.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import krippendorff
import numpy as np

from studio.core.active import guesses, rating_repeats, repeats
from studio.core.run_kinds import REWARD

if TYPE_CHECKING:
    from studio.core.store import Store

Unit = tuple                 # ("c", comparison_id, position) or ("r", prompt_id, response_id)
Labels = dict[str, dict[Unit, float]]
IDLE_GAP_S = 300.0           # a pause longer than this between two labels is not labelling time


def alpha(labels: Labels, level: str = "ordinal") -> float | None:
    """Krippendorff's alpha over annotators x units; None when no unit has two values or all values agree
    by construction (a single value in the whole domain)."""
    units = sorted({u for values in labels.values() for u in values}, key=repr)
    if len(labels) < 2 or not units:
        return None
    matrix = np.array([[values.get(u, np.nan) for u in units] for values in labels.values()], dtype=float)
    pairable = (~np.isnan(matrix)).sum(0) >= 2
    if not pairable.any() or len(np.unique(matrix[:, pairable][~np.isnan(matrix[:, pairable])])) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))


def ranking_labels(store: Store) -> Labels:
    """Each annotator's place for every answer of each comparison they ranked (skips and all-bad give none)."""
    labels: Labels = defaultdict(dict)
    for r in store.rankings():
        if r.status == "ranked":
            for place, group in enumerate(r.order):
                for position in group:
                    labels[r.annotator][("c", r.comparison_id, position)] = float(place)
    return dict(labels)


def has_ratings(store: Store) -> bool:
    return store.db["ratings"].exists()


def rating_rows(store: Store) -> list[dict]:
    return list(store.db.query("SELECT * FROM ratings ORDER BY id")) if has_ratings(store) else []


def rating_labels(store: Store) -> Labels:
    """Each annotator's latest rating of each answer: 0 good, 1 bad."""
    labels: Labels = defaultdict(dict)
    for row in rating_rows(store):
        labels[row["annotator"]][("r", row["prompt_id"], row["response_id"])] = 0.0 if row["label"] else 1.0
    return dict(labels)


def merge(*parts: Labels) -> Labels:
    merged: Labels = defaultdict(dict)
    for part in parts:
        for annotator, values in part.items():
            merged[annotator].update(values)
    return dict(merged)


def _items(units: Iterable[Unit]) -> set[tuple]:
    """The labelled items behind units: a comparison or a rated answer."""
    return {u[:2] if u[0] == "c" else u for u in units}


def pairwise(labels: Labels) -> list[dict]:
    """Alpha of every annotator pair, with how many items (comparisons, rated answers) both labelled."""
    rows = []
    for a, b in itertools.combinations(sorted(labels), 2):
        shared = _items(set(labels[a]) & set(labels[b]))
        rows.append({"a": a, "b": b, "shared": len(shared),
                     "alpha": alpha({a: labels[a], b: labels[b]}) if shared else None})
    return rows


def _top(order: list[list[int]], status: str) -> object:
    return frozenset(order[0]) if status == "ranked" else status


def self_consistency(store: Store) -> dict[str, dict]:
    """Per annotator: repeats answered (rankings and ratings) and the fraction that match the first time:
    a ranking's best answer (or skip/all-bad), a rating's good or bad."""
    first = {("c", r.comparison_id, r.annotator): _top(r.order, r.status) for r in store.rankings()}
    first.update({("r", row["response_id"], row["annotator"]): row["label"] for row in rating_rows(store)})
    answers = [(("c", row["comparison_id"], row["annotator"]), _top(row["order"], row["status"]))
               for row in repeats(store)]
    answers += [(("r", row["response_id"], row["annotator"]), row["label"]) for row in rating_repeats(store)]
    out: dict[str, dict] = {}
    for key, again in answers:
        earlier = first.get(key)
        if earlier is None:
            continue
        entry = out.setdefault(key[2], {"repeats": 0, "same": 0})
        entry["repeats"] += 1
        entry["same"] += earlier == again
    for entry in out.values():
        entry["agreement"] = entry["same"] / entry["repeats"]
    return out


def reward_model_agreement(store: Store) -> dict[str, dict]:
    """Per annotator: how often the reward model's guess (made before anyone ranked the comparison) is in
    their best group, over their rankings that pick a best (full ties left out)."""
    latest: dict[int, object] = {}
    for run_id in [r.id for r in store.runs(REWARD)]:
        latest.update(guesses(store, run_id))
    out: dict[str, dict] = {}
    for r in store.rankings():
        guess = latest.get(r.comparison_id)
        if guess is None or r.status != "ranked" or len(r.order) < 2:
            continue
        entry = out.setdefault(r.annotator, {"n": 0, "same": 0})
        entry["n"] += 1
        entry["same"] += guess.best in r.order[0]
    for entry in out.values():
        entry["agreement"] = entry["same"] / entry["n"]
    return out


def labels_per_hour(times: list[str]) -> float | None:
    """Labels per hour of labelling time: gaps between consecutive labels, each capped at IDLE_GAP_S."""
    stamps = sorted(datetime.fromisoformat(t).timestamp() for t in times)
    busy = sum(min(b - a, IDLE_GAP_S) for a, b in itertools.pairwise(stamps))
    return (len(stamps) - 1) / busy * 3600 if busy > 0 else None


def annotator_report(store: Store) -> dict:
    """Everything the Annotators page and `status --json` show."""
    ranked, rated = ranking_labels(store), rating_labels(store)
    everything = merge(ranked, rated)
    times: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"rankings": 0, "ratings": 0, "repeats": 0})
    for r in store.rankings():
        times[r.annotator].append(r.created)
        counts[r.annotator]["rankings"] += 1
    for row in rating_rows(store):
        times[row["annotator"]].append(row["created"])
        counts[row["annotator"]]["ratings"] += 1
    for row in repeats(store) + rating_repeats(store):
        times[row["annotator"]].append(row["created"])
        counts[row["annotator"]]["repeats"] += 1
    consistency, with_rm = self_consistency(store), reward_model_agreement(store)
    annotators = [{"name": name, **counts[name],
                   "self_consistency": consistency.get(name, {}).get("agreement"),
                   "self_repeats": consistency.get(name, {}).get("repeats", 0),
                   "reward_model_agreement": with_rm.get(name, {}).get("agreement"),
                   "reward_model_n": with_rm.get(name, {}).get("n", 0),
                   "labels_per_hour": labels_per_hour(times[name])} for name in sorted(times)]
    return {"alpha": {"all": alpha(everything), "rankings": alpha(ranked), "ratings": alpha(rated)},
            "annotators": annotators, "pairs": pairwise(everything)}
