"""JSONL files in and out of the store. Each import is all-or-nothing and returns how many lines it took.

Imports write in batches (`executemany` inside the one transaction), so even a 30k-line file holds the
write lock for about a second and a ranking made meanwhile in the GUI waits instead of failing.
"""
from __future__ import annotations

import json
from pathlib import Path

from studio.core import active
from studio.core.bulk_insert import ids_by_content
from studio.core.jsonl import (JsonlError, RankingLine, read_demos, read_prefs, read_prompts, read_rankings,
                               write_jsonl)
from studio.core.preferences import check_order
from studio.core.ratings import training_pairs
from studio.core.store import Store
from studio.core.store_base import now

PREF_ANNOTATOR = "import"


def import_demos(store: Store, path: str | Path) -> int:
    demos = read_demos(path)
    stamp = now()
    with store.transaction():
        store.db.conn.executemany(
            "INSERT INTO demonstrations (prompt, response, system, created, updated) VALUES (?, ?, ?, ?, ?)",
            [(d.prompt, d.response, d.system if d.system and d.system.strip() else None, stamp, stamp) for d in demos])
    return len(demos)


def import_prompts(store: Store, path: str | Path) -> int:
    """Add the prompts and their reference answers; ones already in the store are kept once (the count includes
    them). A line may give an answer to a prompt that has none; one that differs from the answer already stored
    (or from another line's) refuses the whole file."""
    prompts = read_prompts(path)
    with store.transaction():
        ids = store.add_prompts([p.text for p in prompts])
        for p in (p for p in prompts if p.answer is not None):
            try:
                store.set_prompt_answer(ids[p.text.strip()], p.answer)
            except ValueError as exc:
                raise JsonlError(path, p.line, str(exc)) from None
    return len(prompts)


def import_rankings(store: Store, path: str | Path) -> int:
    """Rank existing comparisons; returns how many rankings were added. An unknown comparison, a wrong position or
    a comparison its annotator already ranked otherwise fails with its line: an import never replaces a label (the
    same ranking again is already there and adds nothing)."""
    rankings = read_rankings(path)
    with store.transaction():
        wanted = json.dumps(sorted({r.comparison_id for r in rankings}))
        sizes = {cid: len(json.loads(ids)) for cid, ids in store.db.execute(
            "SELECT id, response_ids FROM comparisons WHERE id IN (SELECT value FROM json_each(?))", [wanted])}
        stored = {(cid, annotator): (order, status) for cid, annotator, order, status in store.db.execute(
            'SELECT comparison_id, annotator, "order", status FROM rankings '
            "WHERE comparison_id IN (SELECT value FROM json_each(?))", [wanted])}
        new = []
        for r in rankings:
            try:
                check_ranking(r, sizes)
            except (ValueError, LookupError) as e:
                raise JsonlError(path, r.line, str(e)) from None
            had = stored.get((r.comparison_id, r.annotator))
            if had is None:
                new.append(r)
            elif had != (json.dumps(r.order), r.status):
                raise JsonlError(path, r.line, f"comparison {r.comparison_id} is already ranked otherwise by "
                                               f"{r.annotator!r}: an import never replaces a label; re-rank it in "
                                               "the studio, or name another annotator")
        stamp = now()
        store.db.conn.executemany(
            'INSERT INTO rankings (comparison_id, annotator, "order", status, created) VALUES (?, ?, ?, ?, ?)',
            [(r.comparison_id, r.annotator, json.dumps(r.order), r.status, stamp) for r in new])
    return len(new)


def check_ranking(r: RankingLine, sizes: dict[int, int]) -> None:
    """Refuse a ranking of a comparison not in `sizes` (comparison id -> its number of answers) or whose
    positions are not exactly that comparison's (LookupError, ValueError)."""
    if r.comparison_id not in sizes:
        raise LookupError(f"no comparison with id {r.comparison_id}")
    if r.status == "ranked":
        check_order(r.order, sizes[r.comparison_id])


def import_prefs(store: Store, path: str | Path) -> int:
    """Each TRL line becomes a comparison [chosen, rejected] of its prompt ranked chosen > rejected by
    "import". By content: an answer already stored for the prompt, a comparison of the same answers and
    its ranking are reused, so importing a file twice (or a line twice) adds nothing."""
    prefs = read_prefs(path)
    stamp = now()
    with store.transaction():
        prompt_ids = store.add_prompts([p.prompt for p in prefs])
        texts = [(prompt_ids[p.prompt.strip()], text) for p in prefs for text in (p.chosen, p.rejected)]
        responses = ids_by_content(store, "responses", ("prompt_id", "text"), texts,
                                    "prompt_id, text, policy, settings, created", ("imported", "{}", stamp))
        pairs = [(prompt_id, json.dumps([responses[texts[i]], responses[texts[i + 1]]]))
                 for i, (prompt_id, _) in enumerate(texts) if i % 2 == 0]
        comparisons = ids_by_content(store, "comparisons", ("prompt_id", "response_ids"), pairs,
                                      "prompt_id, response_ids, created", (stamp,))
        store.db.conn.executemany(
            'INSERT OR IGNORE INTO rankings (comparison_id, annotator, "order", status, created) '
            "VALUES (?, ?, ?, 'ranked', ?)", [(comparisons[pair], PREF_ANNOTATOR, "[[0], [1]]", stamp)
                                              for pair in dict.fromkeys(pairs)])
    return len(prefs)


def export_demos(store: Store, path: str | Path, fmt: str = "completion") -> int:
    """Write demonstrations as {"prompt", "completion"[, "system"]} or as {"messages": [...]}."""
    if fmt not in ("completion", "messages"):
        raise ValueError(f'demo format must be "completion" or "messages", got {fmt!r}')
    records = []
    for d in store.demos():
        if fmt == "messages":
            turns = [("system", d.system)] if d.system else []
            turns += [("user", d.prompt), ("assistant", d.response)]
            records.append({"messages": [{"role": role, "content": content} for role, content in turns]})
        elif d.system:
            records.append({"prompt": d.prompt, "completion": d.response, "system": d.system})
        else:
            records.append({"prompt": d.prompt, "completion": d.response})
    return write_jsonl(path, records)


def export_comparisons(store: Store, path: str | Path, annotator: str | None = None, order: str = "arrival") -> int:
    """Write the unranked comparisons (for `annotator` if given), ready to rank elsewhere: as they arrived or, with
    order "uncertain", those the latest reward model is least sure about first, each with that model's guess."""
    by_id = active.guesses(store)
    records = []
    for c in active.queue(store, annotator, order):
        record = {"comparison_id": c.id, "prompt": c.prompt, "responses": c.responses}
        if order == "uncertain" and c.id in by_id:
            g = by_id[c.id]
            record["reward_model"] = {"p_first": round(g.p_first, 4), "spread": round(g.spread, 4),
                                      "unsure": g.unsure}
        records.append(record)
    return write_jsonl(path, records)


def export_prefs(store: Store, path: str | Path) -> int:
    """Write one TRL {"prompt", "chosen", "rejected"} line per pair implied by the rankings (ties give
    none), then per pair implied by the ratings."""
    return write_jsonl(path, ({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}
                              for p in training_pairs(store)))
