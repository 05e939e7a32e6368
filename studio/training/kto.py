"""Kahneman-Tversky optimisation (Ethayarajh et al. 2024): the policy learns from answers rated good or bad
one at a time, no pairs needed.

The loss is TRL's `KTOTrainer` loss (loss_type "kto"): a good answer should gain likelihood against the
reference by more than a reference point, a bad one fall below it,

    good: w_D * (1 - sigmoid(beta * (log pi/ref - z)))      bad: w_U * (1 - sigmoid(beta * (z - log pi/ref)))

averaged over the batch. The reference point z is the batch's KL estimate: the mean log-ratio of the
batch's completions paired with *other* prompts (mismatched pairs), detached and clamped at 0.

In the order it runs: each example gets a fixed mismatched partner, as TRL builds its KL dataset once,
before shuffling (TRL rotates the completions by one within each batch-sized chunk of the data; we take the
next answer to *another* prompt in a seeded shuffle, since rated answers come several per prompt and an
answer paired with its own prompt is no mismatch); the trainable `kto` adapter starts as a copy of the SFT adapter, which also serves as
the reference (the bare base when there is none), and the reference log-probs of every completion and
every mismatched pair are computed once, before training (the loop cannot switch adapters mid-step);
then each step scores the batch with the policy, the mismatched pairs without gradients, and updates.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import torch

from studio.training.configs import KTOConfig
from studio.training.dpo import reference_logprobs, sequence_logprobs
from studio.training.engine import Hooks, TrainResult, run_supervised, step_tokens, wants_bf16
from studio.training.reward import Example, chunks, prompt_split, split_by_prompt
from studio.training.sft import encode_example, pad_batch
from studio.training.shared_base import SharedBase

ADAPTER = "kto"


def kl_partners(prompts: list[str], seed: int) -> list[int]:
    """For each example, the example whose completion its mismatched pair borrows: the next one in a seeded
    shuffle that answers another prompt (the next one at all when every example shares one prompt)."""
    n = len(prompts)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    several = len(set(prompts)) > 1
    partners = [0] * n
    for k, i in enumerate(order):
        ahead = (order[(k + d) % n] for d in range(1, n))  # lazily: another prompt is usually a step or two away
        partners[i] = next((j for j in ahead if prompts[j] != prompts[i] or not several), order[(k + 1) % n])
    return partners


def encode_examples(tokenizer, examples: list[dict], partners: list[int], max_length: int
                    ) -> list[tuple[Example, Example]]:
    """(prompt + its completion, prompt + the partner's completion) token ids of each example."""
    return [tuple(encode_example(tokenizer, e["prompt"], completion, e.get("system"), max_length)
                  for completion in (e["completion"], examples[j]["completion"]))
            for e, j in zip(examples, partners)]


def kto_loss(policy: torch.Tensor, reference: torch.Tensor, desirable: torch.Tensor, policy_kl: torch.Tensor,
             reference_kl: torch.Tensor, beta: float, desirable_weight: float = 1.0, undesirable_weight: float = 1.0
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TRL's KTO loss as the mean over the batch; also the implicit rewards beta * (pi - ref) (detached) and the
    reference point z = mean(policy_kl - reference_kl), detached and clamped at 0.

    `policy`/`reference` are summed completion log-probs, `desirable` a bool per example; `policy_kl` and
    `reference_kl` the log-probs of the batch's mismatched pairs.
    """
    kl = (policy_kl - reference_kl).mean().detach().clamp(min=0)
    logratios = policy - reference
    losses = torch.where(desirable, desirable_weight * (1 - torch.sigmoid(beta * (logratios - kl))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (kl - logratios))))
    return losses.mean(), beta * logratios.detach(), kl


def reward_metrics(rewards: torch.Tensor, desirable: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
    """The KL reference point and the mean implicit reward of the good and the bad answers present."""
    values = {"kl": kl.item()}
    if desirable.any():
        values["chosen_reward"] = rewards[desirable].mean().item()
    if (~desirable).any():
        values["rejected_reward"] = rewards[~desirable].mean().item()
    if len(values) == 3:
        values["margin"] = values["chosen_reward"] - values["rejected_reward"]
    return values


def train_kto(base: SharedBase, examples: list[dict], config: KTOConfig, run_dir: Path, hooks: Hooks | None = None,
              resume: bool = False, init_adapter: str | None = "sft") -> TrainResult:
    """Train the `kto` adapter on rated answers (dicts with prompt, completion, label True = good, optional
    system), starting from and anchored to `init_adapter` when the base has it, else to the bare base."""
    if not examples:
        raise ValueError("KTO needs at least one rated answer: rate some on the Rate page or import ratings")
    if any(not isinstance(e.get("label"), bool) for e in examples):
        raise ValueError("every KTO example needs a label, True (good) or False (bad)")
    torch.manual_seed(config.seed)
    partners = kl_partners([e["prompt"] for e in examples], config.seed)
    encoded = encode_examples(base.tokenizer, examples, partners, config.max_length)
    desirable = torch.tensor([e["label"] for e in examples], device=base.device)
    train_idx, eval_idx = split_by_prompt(examples, config.eval_fraction, config.seed)
    reference = init_adapter if init_adapter in base.adapters() else None
    if reference:
        base.copy_adapter(reference, ADAPTER)
    else:
        base.add_lora(ADAPTER, r=config.lora_r, alpha=config.lora_alpha)
    ref_logps, ref_kl_logps = reference_logprobs(base, reference, encoded, config.batch_size,
                                                 bf16=wants_bf16(config.bf16_autocast, base))
    pad = base.tokenizer.pad_token_id

    def logprobs(idx: Sequence[int], side: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask, labels = pad_batch([encoded[i][side] for i in idx], pad, base.device)
        return sequence_logprobs(base, ids, mask, labels), mask

    def loss(idx: Sequence[int], policy: torch.Tensor, policy_kl: torch.Tensor):
        return kto_loss(policy, ref_logps[idx], desirable[idx], policy_kl, ref_kl_logps[idx], config.beta,
                        config.desirable_weight, config.undesirable_weight)

    def loss_fn(idx: list[int]):
        policy, mask = logprobs(idx, 0)
        with torch.no_grad():
            policy_kl, _ = logprobs(idx, 1)
        value, rewards, kl = loss(idx, policy, policy_kl)
        return value, {**reward_metrics(rewards, desirable[idx], kl), "tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        batches = chunks(eval_idx, config.batch_size)
        policy = torch.cat([logprobs(idx, 0)[0] for idx in batches])
        policy_kl = torch.cat([logprobs(idx, 1)[0] for idx in batches])
        value, rewards, kl = loss(eval_idx, policy, policy_kl)
        values = {"loss": value.item(), **reward_metrics(rewards, desirable[eval_idx], kl)}
        return {f"eval_{k}": v for k, v in values.items()}

    return run_supervised(base=base, adapter=ADAPTER, heads={}, train_idx=train_idx, loss_fn=loss_fn,
                          eval_fn=eval_fn if eval_idx else None, split=prompt_split(examples, eval_idx),
                          config=config, run_dir=run_dir, hooks=hooks or Hooks(),
                          tokens=step_tokens((pair[0] for pair in encoded), config.batch_size), resume=resume)
