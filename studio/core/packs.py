"""Labelling packs: comparisons to rank and answers to rate on another computer, merged back by
content (rankings, ratings and the repeats of both).

A pack is one SQLite file with the store's own schema (so the Rank and Rate pages work on it unchanged
and every decision is committed at once, in rollback-journal mode so the single file is always whole),
holding the exported prompts, answers, comparisons and guidelines, no model and no weights, plus:

- `pack_info` (key, value): the project's id (made on the first export), the pack's id, when made;
- `pack_items` (comparison_id, key, copy): each comparison's content key, the SHA-256 of its prompt and
  answer texts, as exported, and which of the project's comparisons with that content it is (0 for the
  first by id, 1 for the second...), so that two comparisons with the same texts keep their own labels;
- `pack_answers` (response_id, key): the same for each answer packed to be rated that is in no packed
  comparison (the key of its prompt and its text); an answer of a comparison is found through it.

`import_pack` reads the pack without writing to it (read-only, an older pack migrated in a temporary
copy), recomputes every key from the texts in the pack: an edited prompt or answer changes it, and the
pack is refused; each key must name a comparison or answer of this project (texts equal), so nothing
lands anywhere else. Every label row is checked as `rankings import` and `ratings import` check a line,
and its time must be a date; the first bad row refuses the whole pack. A label is imported once: one
already there (same annotator, item, decision, time) is skipped, and a newer label of the same annotator
on the same item is kept.

The file and its checks are in `pack_file`, writing a pack in `pack_export`, merging one back in
`pack_import`; this module names what the rest of the studio uses.
"""
from studio.core.pack_export import Packed, export_pack
from studio.core.pack_file import PackError, content_key, open_pack, project_id
from studio.core.pack_import import ImportResult, import_pack

__all__ = ["ImportResult", "PackError", "Packed", "content_key", "export_pack", "import_pack", "open_pack",
           "project_id"]
