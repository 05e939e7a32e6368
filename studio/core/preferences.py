"""From K-way rankings to weighted (chosen, rejected) pairs, as in InstructGPT."""
from __future__ import annotations


def check_order(order: list[list[int]], k: int) -> None:
    """Raise ValueError unless `order` is best-first groups that together hold 0..k-1 exactly once."""
    if k < 2:
        raise ValueError(f"a ranking needs at least 2 responses, this comparison has {k}")
    if not isinstance(order, list) or not all(isinstance(g, list) and g for g in order):
        raise ValueError(f"ranking must be a list of non-empty groups such as [[0], [2, 1]], got {order!r}")
    flat = [i for group in order for i in group]
    if any(not isinstance(i, int) or isinstance(i, bool) for i in flat):
        raise ValueError(f"ranking positions must be integers, got {order!r}")
    if sorted(flat) != list(range(k)):
        raise ValueError(f"ranking must use each position 0..{k - 1} exactly once, got {order!r}")


def pairs_from_ranking(order: list[list[int]]) -> list[tuple[int, int, float]]:
    """Every (chosen, rejected) pair across different groups, each weighted 1/num_pairs.

    All pairs of one ranking together count as one example; responses tied in a group give no pair.
    """
    pairs = [
        (better, worse)
        for i, group in enumerate(order)
        for lower in order[i + 1:]
        for better in group
        for worse in lower
    ]
    return [(better, worse, 1 / len(pairs)) for better, worse in pairs]


def ranking_record(prompt: str, responses: list[str], order: list[list[int]], comparison_id: int | None,
                   weight: float = 1.0) -> dict:
    """One whole ranking as the preference engines take it: the answers, best-first groups of their positions
    (tied answers share a group) and the ranking's weight."""
    return {"prompt": prompt, "responses": list(responses), "order": [list(g) for g in order], "weight": weight,
            "comparison_id": comparison_id}


def is_ranking(item: dict) -> bool:
    """True for a `ranking_record`, False for a pair dict (prompt, chosen, rejected)."""
    return "order" in item


def most_places(items: list[dict]) -> int:
    """The most places (best-first groups) that one of `items` orders its answers in: 2 for a pair, 0 for none."""
    return max((len(item["order"]) if is_ranking(item) else 2 for item in items), default=0)


def ranking_loss_for(choice: str, items: list[dict]) -> str:
    """The loss that a reward or DPO run with `ranking_loss` `choice` learns from `items` with: "auto" is
    "plackett_luce" when some ranking orders its answers in more than 2 places (K > 2), else "pairs" (on 2 places
    of pairs and ratings the pair path stays as it ever was); "pairs" and "plackett_luce" are themselves."""
    if choice != "auto":
        return choice
    return "plackett_luce" if most_places(items) > 2 else "pairs"


def pair_records(items: list[dict]) -> list[dict]:
    """Pair dicts (prompt, chosen, rejected, weight, comparison_id[, system]) of `items`: a pair stays as it is;
    a ranking becomes its InstructGPT pairs (`pairs_from_ranking`), their weights scaled by the ranking's."""
    out = []
    for item in items:
        if not is_ranking(item):
            out.append(item)
            continue
        extra = {"system": item["system"]} if item.get("system") else {}
        out += [{"prompt": item["prompt"], "chosen": item["responses"][a], "rejected": item["responses"][b],
                 "weight": w * item.get("weight", 1.0), "comparison_id": item.get("comparison_id"), **extra}
                for a, b, w in pairs_from_ranking(item["order"])]
    return out


def ranking_records(items: list[dict]) -> list[dict]:
    """Rankings of `items`: a ranking stays as it is; a pair becomes the 2-way ranking [[0], [1]] of its weight."""
    out = []
    for item in items:
        if is_ranking(item):
            out.append(item)
            continue
        record = ranking_record(item["prompt"], [item["chosen"], item["rejected"]], [[0], [1]],
                                item.get("comparison_id"), item.get("weight", 1.0))
        out.append({**record, "system": item["system"]} if item.get("system") else record)
    return out
