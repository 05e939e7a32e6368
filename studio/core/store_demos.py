"""The store's prompts, demonstrations and responses."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from studio.core.records import Demo, Prompt, Response
from studio.core.store_base import StoreBase, now, required_text


class PromptsAndDemos(StoreBase):
    """Prompts, demonstrations (SFT's data) and the responses generated for prompts."""

    def add_prompt(self, text: str) -> int:
        """Add a prompt (stripped) and return its id, or the existing id for the same text."""
        text = required_text(text, "prompt").strip()
        with self.transaction():
            row = self.db.execute("SELECT id FROM prompts WHERE text = ?", [text]).fetchone()
            return row[0] if row else self.insert_row("prompts", {"text": text, "created": now()})

    def add_prompts(self, texts: Sequence[str]) -> dict[str, int]:
        """Add the prompts (stripped) not stored yet, in one batch; return every stripped text's id."""
        stripped = sorted({t.strip() for t in texts})
        stamp = now()
        with self.transaction():
            self.db.conn.executemany("INSERT OR IGNORE INTO prompts (text, created) VALUES (?, ?)",
                                     [(t, stamp) for t in stripped])
            find = "SELECT id FROM prompts WHERE text = ?"  # one by one: json_each would cut texts at a NUL
            return {t: self.db.conn.execute(find, [t]).fetchone()[0] for t in stripped}

    def set_prompt_answer(self, prompt_id: int, answer: str) -> None:
        """Give prompt `prompt_id` its reference answer; ValueError when it already has another one."""
        with self.transaction():
            stored = self.get_row("prompts", prompt_id, "prompt")["answer"]
            if stored is not None and stored != answer:
                raise ValueError(f"the prompt already has the reference answer {stored[:60]!r}, not "
                                 f"{answer[:60]!r}: a stored answer is never replaced")
            self.db.execute("UPDATE prompts SET answer = ? WHERE id = ?", [answer, prompt_id])

    def prompts(self) -> list[Prompt]:
        return [Prompt(**row) for row in self.select_rows("SELECT * FROM prompts ORDER BY id")]

    def prompt(self, id: int) -> Prompt:
        return Prompt(**self.get_row("prompts", id, "prompt"))

    def prompts_without_responses(self, policy: str) -> list[Prompt]:
        """Prompts that have no response from `policy` yet."""
        rows = self.select_rows("SELECT * FROM prompts WHERE id NOT IN "
                          "(SELECT prompt_id FROM responses WHERE policy = ?) ORDER BY id", [policy])
        return [Prompt(**row) for row in rows]

    def add_demo(self, prompt: str, response: str, system: str | None = None) -> int:
        """Add a demonstration; a blank `system` counts as none."""
        stamp = now()
        return self.insert_row("demonstrations", {
            "prompt": required_text(prompt, "prompt"), "response": required_text(response, "response"),
            "system": system if system and system.strip() else None, "created": stamp, "updated": stamp,
        })

    def update_demo(self, id: int, prompt: str, response: str) -> None:
        row = {"prompt": required_text(prompt, "prompt"), "response": required_text(response, "response"),
               "updated": now()}
        with self.transaction():
            self.get_row("demonstrations", id, "demonstration")
            self.db["demonstrations"].update(id, row)

    def delete_demo(self, id: int) -> Demo:
        """Delete a demonstration and return it, for `restore_demo` (undo)."""
        with self.transaction():
            demo = Demo(**self.get_row("demonstrations", id, "demonstration"))
            self.db.execute("DELETE FROM demonstrations WHERE id = ?", [id])
        return demo

    def restore_demo(self, demo: Demo) -> None:
        """Put back a deleted demonstration under its old id."""
        with self.transaction():
            if self.select_rows("SELECT id FROM demonstrations WHERE id = ?", [demo.id]):
                raise ValueError(f"demonstration {demo.id} already exists")
            self.db["demonstrations"].insert(dataclasses.asdict(demo))

    def demos(self, search: str | None = None) -> list[Demo]:
        """All demonstrations, or those whose prompt or response contains `search` (any case)."""
        demos = [Demo(**row) for row in self.select_rows("SELECT * FROM demonstrations ORDER BY id")]
        if not search:
            return demos
        needle = search.casefold()
        return [d for d in demos if needle in d.prompt.casefold() or needle in d.response.casefold()]

    def add_response(self, prompt_id: int, text: str, policy: str, settings: dict | None = None,
                     cut: bool | None = None) -> int:
        """Record one answer to a prompt; `policy` is "base", "imported" or a run id as text; `cut` when it
        stopped at the token limit mid-sentence (None: not known)."""
        if not isinstance(text, str):
            raise ValueError(f"response text must be a string, got {text!r}")
        row = {"prompt_id": prompt_id, "text": text, "policy": required_text(policy, "policy"),
               "settings": json.dumps(settings or {}), "created": now(), "cut": None if cut is None else int(cut)}
        with self.transaction():
            self.get_row("prompts", prompt_id, "prompt")
            return self.insert_row("responses", row)

    def responses(self, prompt_id: int | None = None, policy: str | None = None) -> list[Response]:
        rows = self.select_rows("SELECT * FROM responses WHERE (:p IS NULL OR prompt_id = :p) "
                          "AND (:policy IS NULL OR policy = :policy) ORDER BY id",
                          {"p": prompt_id, "policy": policy})
        return [Response(**{**row, "settings": json.loads(row["settings"]),
                            "cut": None if row["cut"] is None else bool(row["cut"])}) for row in rows]

    def cut_at(self, response_ids: list[int]) -> dict[int, int]:
        """Of `response_ids`, those cut mid-sentence, each with the tokens it was cut at (its settings' longest
        answer)."""
        rows = self.db.execute("SELECT id, settings FROM responses WHERE cut = 1 AND id IN "
                               "(SELECT value FROM json_each(?))", [json.dumps(response_ids)]).fetchall()
        return {id: json.loads(settings).get("max_new_tokens", 0) for id, settings in rows}
