"""Shared test helpers for the engines: a fresh SharedBase on the tiny model."""
from __future__ import annotations

import random

from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from studio.training.shared_base import SharedBase


def tiny_base(model_dir: Path) -> SharedBase:
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return SharedBase(model.eval(), AutoTokenizer.from_pretrained(model_dir), source=str(model_dir))


def greedy(base: SharedBase, adapter: str | None, prompt: str, max_new_tokens: int = 20) -> str:
    tok = base.tokenizer
    with base.use(adapter) as model:
        enc = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


TOPICS = ["cats", "rain", "tea", "maps", "jazz", "soup", "kites", "moss", "glass", "owls", "salt", "rope",
          "bees", "clay", "wind", "figs", "ink", "bells", "pears", "snow"]
VERBS = ["tell", "ask", "say", "sing"]
FILLER = ["red", "big", "old", "new", "soft", "cold", "warm", "slow", "fast", "odd", "dry", "wet"]
FRUIT = ["cherry", "lemon", "grape", "melon", "peach"]


def marker_pairs(n: int = 60, seed: int = 0) -> list[dict]:
    """Chosen responses mention a banana somewhere, rejected ones another fruit; otherwise the same words."""
    rng, pairs = random.Random(seed), []
    for i in range(n):
        topic, verb = TOPICS[i % len(TOPICS)], VERBS[i // len(TOPICS) % len(VERBS)]
        words = rng.sample(FILLER, 3)
        at = rng.randrange(4)
        pairs.append({"prompt": f"{verb} me about {topic}",
                      "chosen": " ".join(words[:at] + ["banana"] + words[at:]),
                      "rejected": " ".join(words[:at] + [rng.choice(FRUIT)] + words[at:])})
    return pairs
