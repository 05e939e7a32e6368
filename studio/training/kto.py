"""Kahneman-Tversky optimisation (Ethayarajh et al. 2024): the policy learns from answers rated good or bad
one at a time, no pairs needed.

The loss is TRL's `KTOTrainer` loss (loss_type "kto"): a good answer should gain likelihood against the
reference by more than a reference point, a bad one fall below it,

    good: w_D * (1 - sigmoid(beta * (log pi/ref - z)))      bad: w_U * (1 - sigmoid(beta * (z - log pi/ref)))

averaged over the batch. The reference point z is the batch's KL estimate: the mean log-ratio of the
batch's completions paired with *other* prompts of the same batch (mismatched pairs), detached and clamped at 0.

In the order it runs: the trainable `kto` adapter starts as a copy of the SFT adapter, which also serves as the
reference (the bare base when there is none), and the reference log-probs of every completion are computed once,
before training. Each step then scores the batch with the policy and builds its mismatched pairs from the batch
itself, as TRL's `_get_kl_dataset` asks ("the mismatched outputs y' used to estimate the KL term for a batch
should be the same set as the matched outputs y used to estimate the rewards in that batch, just paired with
different x"): TRL rotates the completions by one within a batch; we take the next completion in the batch that
answers *another* prompt, since rated answers come several per prompt and an answer paired with its own prompt
is no mismatch. The pairs are scored by the policy and the reference (switched on for that pass), without
gradients, and the step updates.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from studio.training.batches import (Example, chunks, encode_example, pad_batch, prompt_split, split_by_prompt,
                                     step_tokens)
from studio.training.configs import KTOConfig
from studio.training.engine import Hooks, TrainResult, run_supervised, stoppable
from studio.training.precision import wants_bf16
from studio.training.preference_losses import kto_loss
from studio.training.response_logprobs import sequence_logprobs
from studio.training.shared_base import SharedBase

ADAPTER = "kto"


def kl_partners(prompts: Sequence[str]) -> list[int]:
    """For each position of a batch, the position whose completion its mismatched pair borrows: the next one
    (cyclically) that answers another prompt; the next one at all when the whole batch shares one prompt."""
    n = len(prompts)
    several = len(set(prompts)) > 1
    return [next((j % n for j in range(i + 1, i + n) if prompts[j % n] != prompts[i] or not several), (i + 1) % n)
            for i in range(n)]


def mismatched(tokenizer, examples: list[dict], idx: Sequence[int], max_length: int) -> list[Example]:
    """The batch `idx`'s mismatched pairs: each example's prompt with a `kl_partners` completion of the batch."""
    partners = kl_partners([examples[i]["prompt"] for i in idx])
    return [encode_example(tokenizer, examples[i]["prompt"], examples[idx[j]]["completion"], examples[i].get("system"),
                           max_length) for i, j in zip(idx, partners)]


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


@stoppable
def train_kto(base: SharedBase, examples: list[dict], config: KTOConfig, run_dir: Path, hooks: Hooks | None = None,
              resume: bool = False, init_adapter: str | None = "sft") -> TrainResult:
    """Train the `kto` adapter on rated answers (dicts with prompt, completion, label True = good, optional
    system), starting from and anchored to `init_adapter` when the base has it, else to the bare base."""
    if not examples:
        raise ValueError("KTO needs at least one rated answer: rate some on the Rate page or import ratings")
    if any(not isinstance(e.get("label"), bool) for e in examples):
        raise ValueError("every KTO example needs a label, True (good) or False (bad)")
    torch.manual_seed(config.seed)
    encoded = [encode_example(base.tokenizer, e["prompt"], e["completion"], e.get("system"), config.max_length)
               for e in examples]
    desirable = torch.tensor([e["label"] for e in examples], device=base.device)
    train_idx, eval_idx = split_by_prompt(examples, config.eval_fraction, config.seed)
    reference = init_adapter if init_adapter in base.adapters() else None
    if reference:
        base.copy_adapter(reference, ADAPTER)
    else:
        base.add_lora(ADAPTER, r=config.lora_r, alpha=config.lora_alpha)
    pad = base.tokenizer.pad_token_id

    def logprobs(batch: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask, labels = pad_batch(batch, pad, base.device)
        return sequence_logprobs(base, ids, mask, labels), mask

    with torch.no_grad(), base.use(reference), base.bf16_trunk(wants_bf16(config.bf16_autocast, base)):
        ref_logps = torch.cat([logprobs([encoded[i] for i in idx])[0]
                               for idx in chunks(range(len(encoded)), config.batch_size)])

    def kl_logprobs(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(policy, reference) log-probs of the batch's mismatched pairs, without gradients."""
        pairs = mismatched(base.tokenizer, examples, idx, config.max_length)
        with torch.no_grad():
            policy_kl = logprobs(pairs)[0]
            with base.use(reference):
                return policy_kl, logprobs(pairs)[0]

    def loss(idx: Sequence[int], policy: torch.Tensor, policy_kl: torch.Tensor, reference_kl: torch.Tensor):
        return kto_loss(policy, ref_logps[idx], desirable[idx], policy_kl, reference_kl, config.beta,
                        config.desirable_weight, config.undesirable_weight)

    def loss_fn(idx: list[int]):
        policy, mask = logprobs([encoded[i] for i in idx])
        value, rewards, kl = loss(idx, policy, *kl_logprobs(idx))
        return value, {**reward_metrics(rewards, desirable[idx], kl), "tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        batches = chunks(eval_idx, config.batch_size)  # mismatched pairs within each, as in training
        policy = torch.cat([logprobs([encoded[i] for i in idx])[0] for idx in batches])
        policy_kl, reference_kl = (torch.cat(side) for side in zip(*(kl_logprobs(idx) for idx in batches)))
        value, rewards, kl = loss(eval_idx, policy, policy_kl, reference_kl)
        values = {"loss": value.item(), **reward_metrics(rewards, desirable[eval_idx], kl)}
        return {f"eval_{k}": v for k, v in values.items()}

    return run_supervised(base=base, adapter=ADAPTER, heads={}, train_idx=train_idx, loss_fn=loss_fn,
                          eval_fn=eval_fn if eval_idx else None, split=prompt_split(examples, eval_idx),
                          config=config, run_dir=run_dir, hooks=hooks or Hooks(),
                          tokens=step_tokens(encoded, config.batch_size), resume=resume)
