"""Supervised fine-tuning: a LoRA adapter learns to answer like the user's demonstrations.

The loss counts only response tokens (the prompt is context, not something to imitate).
"""
from __future__ import annotations

from pathlib import Path

import torch

from studio.training.batches import encode_example, pad_batch, split_indices, step_tokens
from studio.training.configs import SFTConfig
from studio.training.engine import Hooks, TrainResult, run_supervised, stoppable
from studio.training.response_logprobs import response_logprobs
from studio.training.shared_base import SharedBase

ADAPTER = "sft"


def response_loss(base: SharedBase, ids, mask, labels) -> torch.Tensor:
    """Mean next-token cross-entropy over response tokens."""
    return -response_logprobs(base, ids, mask, labels)[0].mean()


@stoppable
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
