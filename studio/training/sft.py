"""Supervised fine-tuning: a LoRA adapter learns to answer like the user's demonstrations.

The loss counts only response tokens (the prompt is context, not something to imitate).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from studio.training.chat_format import encode_chat
from studio.training.configs import SFTConfig
from studio.training.engine import Hooks, TrainResult, run_supervised, split_indices, step_tokens
from studio.training.shared_base import SharedBase

ADAPTER = "sft"


def encode_example(tokenizer, prompt: str, response: str, system: str | None, max_length: int
                   ) -> tuple[list[int], int]:
    """Token ids of the chat-formatted prompt + response up to its end-of-turn token, and where the response
    starts (see `chat_format.encode_chat`)."""
    ids, head = encode_chat(tokenizer, prompt, response, system)
    if len(ids) > max_length:  # keep the response; cut the prompt from the left
        cut = len(ids) - max_length
        return ids[cut:], max(head - cut, 1)
    return ids, head


def pad_batch(examples: list[tuple[list[int], int]], pad_id: int, device) -> tuple[torch.Tensor, ...]:
    """Right-pad to a batch: input ids, attention mask, labels (-100 outside responses)."""
    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (seq, start) in enumerate(examples):
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
        labels[row, start:len(seq)] = ids[row, start:len(seq)]
    return ids.to(device), mask.to(device), labels.to(device)


def response_logprobs(base: SharedBase, ids, mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """log p of every response token (labels != -100) under the active adapter, and the row each belongs to.

    The LM head runs only on the positions that predict a response token: full-vocabulary float32 logits
    over the prompts too would cost B x L x vocab x 4 bytes (0.8 GB at 8 x 512 with a 49k vocabulary)."""
    targets = labels[:, 1:]
    where = targets != -100
    hidden = base.hidden_states(ids, mask)[:, :-1][where]
    logprobs = -F.cross_entropy(base.lm_logits(hidden), targets[where], reduction="none")
    return logprobs, where.nonzero()[:, 0]


def response_loss(base: SharedBase, ids, mask, labels) -> torch.Tensor:
    """Mean next-token cross-entropy over response tokens."""
    return -response_logprobs(base, ids, mask, labels)[0].mean()


def train_sft(base: SharedBase, demos: list[dict], config: SFTConfig, run_dir: Path, hooks: Hooks | None = None,
              resume: bool = False) -> TrainResult:
    """Fine-tune a fresh `sft` adapter on demos: dicts with prompt, response and optional system."""
    if not demos:
        raise ValueError("SFT needs at least one demonstration")
    torch.manual_seed(config.seed)
    tok = base.tokenizer
    examples = [encode_example(tok, d["prompt"], d["response"], d.get("system"), config.max_length) for d in demos]
    train_idx, eval_idx = split_indices(len(examples), config.eval_fraction, config.seed)
    base.add_lora(ADAPTER, r=config.lora_r, alpha=config.lora_alpha)

    def loss_fn(idx: list[int]):
        ids, mask, labels = pad_batch([examples[i] for i in idx], tok.pad_token_id, base.device)
        return response_loss(base, ids, mask, labels), {"tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        losses = [response_loss(base, *pad_batch([examples[i]], tok.pad_token_id, base.device)).item()
                  for i in eval_idx]
        return {"eval_loss": sum(losses) / len(losses)}

    return run_supervised(base=base, adapter=ADAPTER, heads={}, train_idx=train_idx, loss_fn=loss_fn,
                          eval_fn=eval_fn if eval_idx else None, split=(len(eval_idx), len(examples)),
                          config=config, run_dir=run_dir, hooks=hooks or Hooks(),
                          tokens=step_tokens(examples, config.batch_size), resume=resume)
