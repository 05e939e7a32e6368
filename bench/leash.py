"""The leash, measured on a stored run: per round, the sequence KL, the answers' length, and the KL per token and per
word, so that one can decide whether the KL target should follow answer length (issue 26: on the short taste the
answers fell from 7.8 to 4.5 words while the KL sat on its 6-nat target, about 1 nat a token).

Reads only what PPO and RLOO already record: the metrics `kl` (nats per answer) and `response_length` (tokens),
and the samples table (words per answer, from the `samples_per_iteration` answers shown each round). Opens the
project read-only; writes nothing.

    python bench/leash.py PROJECT_DIR [--run latest:ppo] [--json]
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.core.answer_quality import words  # noqa: E402
from studio.core.project import DB_NAME  # noqa: E402
from studio.core.rm_health import pearson  # noqa: E402
from studio.core.store import Store, StoreError  # noqa: E402


def leash_rows(store: Store, run_id: int) -> list[dict]:
    """One row per round with a KL: round, kl, tokens (mean response_length), kl_per_token, words (mean over the
    round's samples; None without samples) and kl_per_word."""
    metrics: dict[int, dict[str, float]] = {}
    for row in store.metrics(run_id):
        metrics.setdefault(row["step"], {})[row["name"]] = row["value"]
    shown: dict[int, list[int]] = {}
    for row in store.samples(run_id):
        shown.setdefault(row["step"], []).append(len(words(row["response"])))
    rows = []
    for step in sorted(s for s, m in metrics.items() if "kl" in m):
        kl, tokens = metrics[step]["kl"], metrics[step].get("response_length")
        counts = shown.get(step)
        n_words = statistics.fmean(counts) if counts else None
        rows.append({"round": step, "kl": kl, "tokens": tokens,
                     "kl_per_token": kl / tokens if tokens else None, "words": n_words,
                     "kl_per_word": kl / n_words if n_words else None})
    return rows


def summary(rows: list[dict], target_kl: float | None) -> dict:
    """First and last length in words, mean KL per token over the last third of the rounds, and Pearson's r of KL
    per token with words across rounds (strongly negative: the leash tightens per token as answers shrink)."""
    pairs = [(r["kl_per_token"], r["words"]) for r in rows if r["kl_per_token"] is not None and r["words"]]
    tail = [r["kl_per_token"] for r in rows[-max(1, len(rows) // 3):] if r["kl_per_token"] is not None]
    with_words = [r["words"] for r in rows if r["words"]]
    return {"rounds": len(rows), "target_kl": target_kl,
            "words_first": with_words[0] if with_words else None, "words_last": with_words[-1] if with_words else None,
            "kl_per_token_late": statistics.fmean(tail) if tail else None,
            "r_kl_per_token_words": pearson([p[0] for p in pairs], [p[1] for p in pairs])}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--run", default="latest:ppo", help="run id or latest:KIND (default latest:ppo)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    db = args.project / DB_NAME
    try:
        if not db.is_file():
            raise FileNotFoundError(f"{args.project} is not a project (no {DB_NAME})")
        store = Store(db, read_only=True)
        run = store.resolve_run(args.run)
    except (OSError, LookupError, ValueError, sqlite3.Error, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    rows = leash_rows(store, run.id)
    found = summary(rows, run.config.get("target_kl"))
    if args.json:
        print(json.dumps({"run": run.id, "kind": run.kind, "summary": found, "rounds": rows}))
        return 0
    print(f"run {run.id} ({run.kind}), KL target {found['target_kl']}")
    print(f"{'round':>5} {'KL':>7} {'tokens':>7} {'KL/token':>9} {'words':>6} {'KL/word':>8}")
    for r in rows:
        print(f"{r['round']:>5} {_fmt(r['kl']):>7} {_fmt(r['tokens']):>7} {_fmt(r['kl_per_token']):>9} "
              f"{_fmt(r['words']):>6} {_fmt(r['kl_per_word']):>8}")
    print(", ".join(f"{k}: {_fmt(v) if isinstance(v, float) else v}" for k, v in found.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
