"""How far labels can be trusted: Krippendorff's alpha between people, between each machine labeller (`rule:`,
`ai:`) and each person, each person's agreement with themselves (unannounced repeats of rankings and ratings)
and with the reward model, and their labelling pace.

Units for alpha (ordinal level, computed by the `krippendorff` package): each answer of a ranked
comparison, valued by its place (0 = best group; ties share a place), and each rated answer, valued
0 (good) or 1 (bad), so a lower value is better on both scales. The two scales differ (places run to K-1),
so rankings and ratings each get their own alpha, never one over both. Machine labels are stored as
rankings too; they never enter the alpha between people, only their own table against each person.
Ratings come from the `ratings` table (id, prompt_id, response_id, label 1/0, annotator, created) when the
project has one.
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
from studio.core.ai_feedback import is_machine
from studio.core.run_kinds import REWARD

if TYPE_CHECKING:
    from studio.core.store import Store

Unit = tuple                 # ("c", comparison_id, position) or ("r", prompt_id, response_id)
Labels = dict[str, dict[Unit, float]]
LEVEL = "ordinal"            # places and good/bad are ordered: a 1st-vs-3rd disagreement weighs more than 1st-vs-2nd
IDLE_GAP_S = 300.0           # a pause longer than this between two labels is not labelling time


def alpha(labels: Labels, level: str = LEVEL) -> float | None:
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


def people(labels: Labels) -> Labels:
    """The labels of people only (machine labellers left out)."""
    return {name: values for name, values in labels.items() if not is_machine(name)}


def machines(labels: Labels) -> Labels:
    """The labels of rule and AI labellers only."""
    return {name: values for name, values in labels.items() if is_machine(name)}


def _items(units: Iterable[Unit]) -> set[tuple]:
    """The labelled items behind units: a comparison or a rated answer."""
    return {u[:2] if u[0] == "c" else u for u in units}


def _pair(kind: str, a: str, b: str, labels: Labels) -> dict:
    shared = _items(set(labels[a]) & set(labels[b]))
    return {"kind": kind, "a": a, "b": b, "shared": len(shared),
            "alpha": alpha({a: labels[a], b: labels[b]}) if shared else None}


def pairwise(by_kind: dict[str, Labels]) -> list[dict]:
    """Per kind of label ("rankings", "ratings"): alpha of every pair of people who both gave that kind, with
    how many items (comparisons, rated answers) both labelled."""
    return [_pair(kind, a, b, labels) for kind, labels in by_kind.items()
            for a, b in itertools.combinations(sorted(people(labels)), 2)]


def machine_pairs(by_kind: dict[str, Labels]) -> list[dict]:
    """Per kind of label: alpha of every machine labeller (`a`) against every person (`b`) on the items both
    labelled; pairs that share none are left out."""
    rows = [_pair(kind, m, p, labels) for kind, labels in by_kind.items()
            for m in sorted(machines(labels)) for p in sorted(people(labels))]
    return [row for row in rows if row["shared"]]


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
    """Everything the Annotators page and `status --json` show: the alpha between people (rankings and ratings
    apart), the people's table, the pairs of people, and the machine labellers against each person."""
    by_kind = {"rankings": ranking_labels(store), "ratings": rating_labels(store)}
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
                   "labels_per_hour": labels_per_hour(times[name])} for name in sorted(times) if not is_machine(name)]
    return {"alpha": {kind: alpha(people(labels)) for kind, labels in by_kind.items()},
            "annotators": annotators, "pairs": pairwise(by_kind), "machines": machine_pairs(by_kind)}
