"""The store's training runs, their metrics and their generated samples."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from studio.core.migrations import artifact_in_run
from studio.core.records import Run
from studio.core.run_kinds import KINDS, run_kind
from studio.core.store_base import MAX_ID, RUN_STATUSES, StoreBase, now


class RunsAndMetrics(StoreBase):
    """Runs (kind, config, status, artifact), the metrics they log per step and the samples they generate."""

    def create_run(self, kind: str, config: dict, parent: int | None = None) -> int:
        """Start a run with status "running"; non-JSON config values are stored as text."""
        run_kind(kind)  # refuses a kind the registry does not know
        with self.transaction():
            if parent is not None:
                self.get_row("runs", parent, "run")
            return self.insert_row("runs", {"kind": kind, "config": json.dumps(config, default=str),
                                         "status": "running", "parent": parent, "step": 0,
                                         "final_metrics": "{}", "created": now()})

    def update_run(self, id: int, *, status: str | None = None, artifact: str | Path | None = None,
                   final_metrics: dict | None = None, step: int | None = None,
                   error: str | None = None) -> None:
        """Change the given fields; a status other than "running" also stamps `finished`."""
        row: dict = {}
        if status is not None:
            if status not in RUN_STATUSES:
                raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
            row |= {"status": status, "finished": None if status == "running" else now()}
        if artifact is not None:
            if artifact_in_run(id, str(artifact)) != str(artifact):
                raise ValueError(f"run {id}'s artifact must be a path inside runs/{id}/ relative to the project "
                                 f"root, got {str(artifact)!r}")
            row["artifact"] = str(artifact)
        if final_metrics is not None:
            row["final_metrics"] = json.dumps(final_metrics, default=str)
        if step is not None:
            row["step"] = step
        if error is not None:
            row["error"] = error
        with self.transaction():
            self.get_row("runs", id, "run")
            if row:
                self.db["runs"].update(id, row)

    def run(self, id: int) -> Run:
        return _run(self.get_row("runs", id, "run"))

    def runs(self, kind: str | None = None) -> list[Run]:
        rows = self.select_rows("SELECT * FROM runs WHERE ? IS NULL OR kind = ? ORDER BY id", [kind, kind])
        return [_run(row) for row in rows]

    def resolve_run(self, ref: str | int) -> Run:
        """The run named by "12" or "latest:KIND" (the newest finished run of that kind)."""
        ref = str(ref).strip()
        if ref.isascii() and ref.isdecimal():
            if int(ref) > MAX_ID:
                raise LookupError(f"no run with id {ref}")
            return self.run(int(ref))
        kind = ref.removeprefix("latest:")
        if kind == ref or kind not in KINDS:
            raise LookupError(f"cannot read run reference {ref!r}: use a run id such as 12, "
                              f"or latest:KIND with KIND one of {', '.join(KINDS)}")
        rows = self.select_rows("SELECT * FROM runs WHERE kind = ? AND status = 'finished' "
                          "ORDER BY id DESC LIMIT 1", [kind])
        if not rows:
            raise LookupError(f"no finished {kind} run yet: train one first")
        return _run(rows[0])

    def add_metrics(self, run_id: int, step: int, values: dict[str, float]) -> None:
        now = time.time()
        with self.transaction():
            self.get_row("runs", run_id, "run")
            self.db["metrics"].insert_all([{"run_id": run_id, "step": step, "name": name,
                                            "value": float(value), "time": now}
                                           for name, value in values.items()])

    def metrics(self, run_id: int) -> list[dict]:
        """Rows {step, name, value, time} in the order recorded (NaN comes back as NaN)."""
        rows = self.select_rows("SELECT step, name, value, time FROM metrics WHERE run_id = ? ORDER BY rowid",
                          [run_id])
        return [{**row, "value": math.nan if row["value"] is None else row["value"]} for row in rows]

    def add_samples(self, run_id: int, step: int, samples: list[dict]) -> None:
        """Record generated samples {prompt, response, reward (optional)} at `step`."""
        with self.transaction():
            self.get_row("runs", run_id, "run")
            self.db["samples"].insert_all([{"run_id": run_id, "step": step, "prompt": s["prompt"],
                                            "response": s["response"], "reward": s.get("reward")}
                                           for s in samples])

    def forget_after(self, run_id: int, step: int) -> None:
        """Drop metrics and samples recorded after `step` (a resumed run repeats those steps)."""
        with self.transaction():
            self.db.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", [run_id, step])
            self.db.execute("DELETE FROM samples WHERE run_id = ? AND step > ?", [run_id, step])

    def samples(self, run_id: int) -> list[dict]:
        """Rows {step, prompt, response, reward} in the order recorded."""
        return self.select_rows("SELECT step, prompt, response, reward FROM samples WHERE run_id = ? "
                          "ORDER BY rowid", [run_id])


def _run(row: dict) -> Run:
    return Run(**{**row, "config": json.loads(row["config"]),
                  "final_metrics": json.loads(row["final_metrics"])})
