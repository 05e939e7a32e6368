"""What the online engines (PPO, RLOO) share about their policy: its adapter, how it starts, how a round's
answers are drawn and reported, and which of them ended on their own."""
from __future__ import annotations

from collections.abc import Callable

import torch

from studio.training.online_configs import PPOConfig, RLOOConfig
from studio.training.engine import Hooks
from studio.training.generation import GeneratedBatch, SamplingConfig, eos_ids
from studio.training.shared_base import SharedBase

POLICY = "policy"


def start_policy(base: SharedBase, init_adapter: str | None, lora_r: int, lora_alpha: int,
                 policy_start: str | None = None) -> str | None:
    """Make the trainable POLICY adapter: a copy of `init_adapter` (which stays frozen as the reference), or a
    fresh LoRA when there is none (the reference is then the bare base). With `policy_start` (a round that goes on
    from an earlier run's policy) POLICY copies that adapter instead, and `init_adapter` stays the reference.
    Returns the reference adapter."""
    reference = init_adapter if init_adapter in base.adapters() and init_adapter != POLICY else None
    if policy_start is not None:
        if policy_start not in base.adapters() or policy_start == POLICY:
            raise ValueError(f"the policy's start {policy_start!r} is not a loaded adapter")
        base.copy_adapter(policy_start, POLICY)
    elif reference:
        base.copy_adapter(reference, POLICY)
    else:
        base.add_lora(POLICY, r=lora_r, alpha=lora_alpha)
    return reference


def sampling_progress(hooks: Hooks, iteration: int, answers: int, max_new_tokens: int) -> Callable[[int], None]:
    """`generate_tokens`' on_token for round `iteration`: says how far sampling is, every 8 tokens."""
    def on_token(n: int) -> None:
        if n == 1 or n % 8 == 0:
            hooks.say(f"Round {iteration}: sampling {answers} answers, token {n} of at most {max_new_tokens}…")
    return on_token


def rollout_sampling(config: PPOConfig | RLOOConfig, seed: int) -> SamplingConfig:
    """How a round's answers are drawn: the policy's full distribution at the run's temperature (no top-p cut,
    so the log-probs PPO and RLOO learn from are those they sampled from). Gold checks draw the starting
    policy's answers the same way."""
    return SamplingConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=1.0,
                          do_sample=True, seed=seed)


def ended_with_eos(base: SharedBase, batch: GeneratedBatch) -> torch.Tensor:
    """bool (n,): the response's last token is an end of turn (it did not run into the token limit)."""
    last = batch.response_ids.gather(1, batch.response_mask.sum(1, keepdim=True).long() - 1).squeeze(1)
    return torch.isin(last, torch.tensor(eos_ids(base.base, base.tokenizer), device=last.device))
