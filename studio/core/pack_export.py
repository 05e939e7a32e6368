"""Writing a labelling pack: the unranked comparisons, the unrated answers and the guidelines."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from studio.core.active import guidelines, queue, set_guidelines
from studio.core.atomic import atomic_path
from studio.core.pack_file import by_content, content_key, project_id
from studio.core.ratings import Ratings
from studio.core.store import Store


@dataclass
class Packed:
    comparisons: int
    answers: int         # answers to rate that are in no packed comparison


def export_pack(store: Store, out: str | Path, count: int | None = None, order: str = "arrival",
                answers: int | None = None) -> Packed:
    """Write the unranked comparisons (the first `count` in `order`), the answers nobody has rated (the
    first `answers`, besides those of the packed comparisons) and the guidelines to pack `out`."""
    out = Path(out)
    comparisons = queue(store, None, order)[:count]
    copies = by_content(store.comparisons())
    in_comparisons = {(c.prompt, text) for c in comparisons for text in c.responses}
    to_rate = {}
    for item in Ratings(store).unrated(None):
        if (item.prompt, item.response) not in in_comparisons:
            to_rate.setdefault((item.prompt, item.response), item)
    to_rate = list(to_rate.values())[:answers]
    if not comparisons and not to_rate:
        raise ValueError("nothing to put in a pack: no unranked comparisons and no unrated answers")
    with atomic_path(out) as tmp, Store(tmp) as pack:
        pack.db.disable_wal()
        pack.db.executescript("CREATE TABLE pack_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                              "CREATE TABLE pack_items (comparison_id INTEGER PRIMARY KEY, key TEXT NOT NULL, "
                              "copy INTEGER NOT NULL DEFAULT 0);"
                              "CREATE TABLE pack_answers (response_id INTEGER PRIMARY KEY, key TEXT NOT NULL);")
        with pack.transaction():
            info = {"project_id": project_id(store), "pack_id": uuid.uuid4().hex,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            pack.db["pack_info"].insert_all([{"key": k, "value": v} for k, v in info.items()])
            set_guidelines(pack, guidelines(store))
            for c in comparisons:
                prompt_id = pack.add_prompt(c.prompt)
                cut = store.cut_at(c.response_ids)  # the labeller sees which answers stop mid-sentence, too
                ids = [pack.add_response(prompt_id, text, "pack", {"max_new_tokens": cut[rid]} if rid in cut else None,
                                         cut=True if rid in cut else None)
                       for rid, text in zip(c.response_ids, c.responses)]
                key = content_key(c.prompt, c.responses)
                pack.db["pack_items"].insert({"comparison_id": pack.add_comparison(prompt_id, ids), "key": key,
                                              "copy": [x.id for x in copies[key]].index(c.id)})
            for item in to_rate:
                pack.db["pack_answers"].insert({
                    "response_id": pack.add_response(pack.add_prompt(item.prompt), item.response, "pack"),
                    "key": content_key(item.prompt, [item.response])})
    return Packed(len(comparisons), len(to_rate))
