"""Tokens/s of our batched `generation.generate` vs a plain `model.generate` on the same inputs.

    .venv/bin/python bench/generation.py                      # SmolLM2-135M, CPU, batch 8, 64 new tokens, greedy
    .venv/bin/python bench/generation.py --model tiny --new-tokens 16 --repeats 2

Both: the same model folder, the same 8 chat-formatted prompts (left padded), greedy decoding. One
untimed warm-up call, then the median of `--repeats` timed calls; tokens counted are the new tokens
up to and including each row's first EOS. Each variant runs in its own process.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (PROMPTS, child_main, common_args, median, print_table, run_variants)  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--batch", type=int, default=8, help="prompts per call (default 8)")
    p.add_argument("--new-tokens", type=int, default=64, help="max new tokens (default 64)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per variant (default 3)")
    return p


def _timed(args, call) -> dict:
    call()  # warm-up
    times, tokens = [], 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        tokens = call()
        times.append(time.perf_counter() - t0)
    return {"call_s": median(times), "times": times, "tokens": tokens, "tokens_per_s": tokens / median(times)}


def ours(args: argparse.Namespace) -> dict:
    from studio.training.generation import SamplingConfig, generate
    from studio.training.models import load_model

    loaded = load_model(args.model_dir, device=args.device)
    prompts = PROMPTS[:args.batch]
    sampling = SamplingConfig(max_new_tokens=args.new_tokens, do_sample=False)

    def call() -> int:
        answers = generate(loaded.model, loaded.tokenizer, prompts, sampling, batch_size=args.batch)
        texts = [a[0] for a in answers]
        return _count_tokens(loaded, prompts, texts)
    return _timed(args, call)


def plain(args: argparse.Namespace) -> dict:
    import torch

    from studio.training.generation import chat_prompt
    from studio.training.models import load_model

    loaded = load_model(args.model_dir, device=args.device)
    tok, model = loaded.tokenizer, loaded.model
    prompts = PROMPTS[:args.batch]
    batch = tok([chat_prompt(tok, p) for p in prompts], return_tensors="pt", padding=True, padding_side="left",
                add_special_tokens=False).to(loaded.device)

    def call() -> int:
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=args.new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        texts = tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        return _count_tokens(loaded, prompts, [t.strip() for t in texts])
    return _timed(args, call)


def _count_tokens(loaded, prompts, texts) -> int:
    """New tokens per row: the answer's tokens plus its EOS when it stopped before the limit (same rule for both)."""
    tok = loaded.tokenizer
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)


VARIANTS = {"ours": ours, "plain": plain}


def main() -> None:
    args = parser().parse_args()
    if args.child:
        child_main(args, VARIANTS)
        return
    res = run_variants(Path(__file__), args, list(VARIANTS),
                       f"Generation: {args.model} on {args.device}, batch {args.batch}, {args.new_tokens} new tokens, "
                       "greedy")
    a, b = res["ours"], res["plain"]
    print_table("Batched greedy generation", [
        ("tokens/s (median call)", a["tokens_per_s"], b["tokens_per_s"], "higher is better"),
        ("call s (median)", a["call_s"], b["call_s"], "lower is better"),
        ("new tokens per call", a["tokens"], b["tokens"], "should match (same greedy output)"),
        ("peak_rss_mb (MiB)", a["peak_rss_mb"], b["peak_rss_mb"], ""),
    ], "ours: generation.generate", "plain model.generate")


if __name__ == "__main__":
    main()
