"""JSONL files in and out of the store. Each import is all-or-nothing and returns how many lines it took."""
from __future__ import annotations

from pathlib import Path

from studio.core.jsonl import JsonlError, read_demos, read_prefs, read_prompts, read_rankings, write_jsonl
from studio.core.ratings import Ratings
from studio.core.store import Store

PREF_ANNOTATOR = "import"


def import_demos(store: Store, path: str | Path) -> int:
    demos = read_demos(path)
    with store.transaction():
        for demo in demos:
            store.add_demo(demo.prompt, demo.response, demo.system)
    return len(demos)


def import_prompts(store: Store, path: str | Path) -> int:
    """Add the prompts; ones already in the store are kept once (the count includes them)."""
    prompts = read_prompts(path)
    with store.transaction():
        for prompt in prompts:
            store.add_prompt(prompt.text)
    return len(prompts)


def import_rankings(store: Store, path: str | Path) -> int:
    """Rank existing comparisons; an unknown comparison or a wrong position fails with its line."""
    rankings = read_rankings(path)
    with store.transaction():
        for r in rankings:
            try:
                store.add_ranking(r.comparison_id, r.order, r.annotator, r.status)
            except (ValueError, LookupError) as e:
                raise JsonlError(path, r.line, str(e)) from None
    return len(rankings)


def import_prefs(store: Store, path: str | Path) -> int:
    """Each TRL line becomes two "imported" responses, a comparison and the ranking chosen > rejected."""
    prefs = read_prefs(path)
    with store.transaction():
        for pref in prefs:
            prompt_id = store.add_prompt(pref.prompt)
            ids = [store.add_response(prompt_id, text, "imported") for text in (pref.chosen, pref.rejected)]
            store.add_ranking(store.add_comparison(prompt_id, ids), [[0], [1]], PREF_ANNOTATOR)
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


def export_comparisons(store: Store, path: str | Path, annotator: str | None = None) -> int:
    """Write the unranked comparisons (for `annotator` if given), ready to rank elsewhere."""
    return write_jsonl(path, ({"comparison_id": c.id, "prompt": c.prompt, "responses": c.responses}
                              for c in store.unranked_comparisons(annotator)))


def export_prefs(store: Store, path: str | Path) -> int:
    """Write one TRL {"prompt", "chosen", "rejected"} line per pair implied by the rankings (ties give
    none), then per pair implied by the ratings."""
    return write_jsonl(path, ({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}
                              for p in store.preference_pairs() + Ratings(store).pairs()))
