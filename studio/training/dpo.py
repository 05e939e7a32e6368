"""Direct preference optimisation: the policy learns from preference pairs directly, without a reward model.

The trainable `dpo` adapter starts as a copy of the SFT adapter, which also serves as the reference
(the bare base when there is none). The loop cannot switch adapters mid-step, so the reference
log-probs of every pair are computed once, before training.

`ranking_loss` picks the pairs of each ranking (sigmoid DPO, InstructGPT-weighted) or each whole ranking
(DPO's Plackett-Luce form over the implicit rewards of its answers, `preference_losses.listwise_dpo_loss`); "auto"
(the default) is the whole rankings where one has more than 2 places (`preferences.ranking_loss_for`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from studio.core.preferences import pair_records, ranking_records
from studio.training.batches import (Example, by_ranking, chunks, encode_pairs, encode_rankings, over_chunks, pad_batch,
                                     pair_batch, pair_halves, pair_step_tokens, pair_weights, prompt_split,
                                     ranking_batch, ranking_places, ranking_step_tokens, split_by_prompt,
                                     whole_rankings)
from studio.training.configs import DPOConfig
from studio.training.engine import Hooks, TrainResult, run_supervised, stoppable
from studio.training.precision import wants_bf16
from studio.training.preference_losses import dpo_loss, listwise_dpo_loss, ranked_pairs
from studio.training.response_logprobs import sequence_logprobs
from studio.training.shared_base import SharedBase

ADAPTER = "dpo"


@torch.no_grad()
def reference_logprobs(base: SharedBase, reference: str | None, encoded: list[tuple[Example, Example]],
                       batch_size: int, hooks: Hooks | None = None, bf16: bool = False
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probs of every (chosen, rejected) pair under `reference` (None = bare base); under
    `bf16_trunk` when `bf16`, as the policy's passes run, so that the two start equal."""
    out = []
    batches = list(chunks(range(len(encoded)), batch_size))
    with base.use(reference), base.bf16_trunk(bf16):
        for i, idx in enumerate(batches):
            if hooks:
                hooks.say(f"Scoring the pairs with the reference model: batch {i + 1} of {len(batches)}…")
            out.append(sequence_logprobs(base, *pair_batch(base, encoded, idx)).view(2, -1))
    chosen, rejected = torch.cat(out, dim=1)
    return chosen, rejected


def reward_metrics(chosen: torch.Tensor, rejected: torch.Tensor) -> dict[str, float]:
    return {"reward_accuracy": (chosen > rejected).float().mean().item(), "chosen_reward": chosen.mean().item(),
            "rejected_reward": rejected.mean().item(), "margin": (chosen - rejected).mean().item()}


@torch.no_grad()
def reference_answer_logprobs(base: SharedBase, reference: str | None, answers: list[Example], batch_size: int,
                              hooks: Hooks | None = None, bf16: bool = False) -> torch.Tensor:
    """Summed response log-probs of every answer under `reference`, as `reference_logprobs` does for pairs."""
    out = [torch.zeros(0, device=base.device)]
    batches = list(chunks(answers, 2 * batch_size))
    with base.use(reference), base.bf16_trunk(bf16):
        for i, rows in enumerate(batches):
            if hooks:
                hooks.say(f"Scoring the answers with the reference model: batch {i + 1} of {len(batches)}…")
            out.append(sequence_logprobs(base, *pad_batch(list(rows), base.tokenizer.pad_token_id, base.device)))
    return torch.cat(out)


def start_adapter(base: SharedBase, config: DPOConfig, init_adapter: str | None) -> str | None:
    """Make the `dpo` adapter: a copy of `init_adapter` when the base has it (the reference, returned), else fresh
    (the bare base is the reference: None)."""
    reference = init_adapter if init_adapter in base.adapters() else None
    if reference:
        base.copy_adapter(reference, ADAPTER)
    else:
        base.add_lora(ADAPTER, r=config.lora_r, alpha=config.lora_alpha)
    return reference


@stoppable
def train_dpo(base: SharedBase, data: list[dict], config: DPOConfig, run_dir: Path, hooks: Hooks | None = None,
              resume: bool = False, init_adapter: str | None = "sft") -> TrainResult:
    """Train the `dpo` adapter on pairs (dicts with prompt, chosen, rejected, optional weight and system) or whole
    rankings (`preferences.ranking_record`), by `config.ranking_loss`, starting from and anchored to
    `init_adapter` when the base has it, else to the bare base."""
    if not data:
        raise ValueError("DPO needs at least one preference pair")
    hooks = hooks or Hooks()
    if whole_rankings(data, config.ranking_loss, hooks.say):
        return train_listwise_dpo(base, ranking_records(data), config, run_dir, hooks, resume, init_adapter)
    pairs = pair_records(data)
    torch.manual_seed(config.seed)
    encoded = encode_pairs(base.tokenizer, pairs, config.max_length)
    train_idx, eval_idx = split_by_prompt(pairs, config.eval_fraction, config.seed)
    weights = pair_weights(pairs, train_idx, base.device)
    reference = start_adapter(base, config, init_adapter)
    ref_chosen, ref_rejected = reference_logprobs(base, reference, encoded, config.batch_size, hooks,
                                                   wants_bf16(config.bf16_autocast, base))

    def logprobs(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return pair_halves(base, encoded, idx, lambda ids, mask, labels: sequence_logprobs(base, ids, mask, labels))

    def loss_fn(idx: list[int]):
        pi_chosen, pi_rejected, mask = logprobs(idx)
        loss, chosen, rejected = dpo_loss(pi_chosen, pi_rejected, ref_chosen[idx], ref_rejected[idx],
                                          config.beta, weights[idx])
        return loss, {**reward_metrics(chosen, rejected), "tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        pi_chosen, pi_rejected = over_chunks(logprobs, eval_idx, config.batch_size)
        loss, chosen, rejected = dpo_loss(pi_chosen, pi_rejected, ref_chosen[eval_idx], ref_rejected[eval_idx],
                                          config.beta, weights[eval_idx])
        return {f"eval_{k}": v for k, v in {"loss": loss.item(), **reward_metrics(chosen, rejected)}.items()}

    return run_supervised(base=base, adapter=ADAPTER, heads={}, train_idx=train_idx, loss_fn=loss_fn,
                          eval_fn=eval_fn if eval_idx else None, split=prompt_split(pairs, eval_idx),
                          config=config, run_dir=run_dir, hooks=hooks,
                          tokens=pair_step_tokens(encoded, config.batch_size),
                          resume=resume)


def train_listwise_dpo(base: SharedBase, rankings: list[dict], config: DPOConfig, run_dir: Path,
                       hooks: Hooks, resume: bool, init_adapter: str | None) -> TrainResult:
    """`train_dpo` on whole rankings: the Plackett-Luce loss of the answers' implicit rewards; reward accuracy and
    margin over each ranking's pairs, as the pair loss reports them."""
    torch.manual_seed(config.seed)
    encoded = encode_rankings(base.tokenizer, rankings, config.max_length)
    train_idx, eval_idx = split_by_prompt(rankings, config.eval_fraction, config.seed)
    weights = pair_weights(rankings, train_idx, base.device)
    reference = start_adapter(base, config, init_adapter)
    ref = reference_answer_logprobs(base, reference, [ex for r in encoded for ex in r], config.batch_size, hooks,
                                    wants_bf16(config.bf16_autocast, base))
    starts = [0]
    for answers in encoded:
        starts.append(starts[-1] + len(answers))

    def rewards_and_loss(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, mask, labels = ranking_batch(base, encoded, idx)
        places = ranking_places(rankings, idx, base.device)
        rows = torch.cat([torch.arange(starts[i], starts[i + 1]) for i in idx]).to(base.device)
        pi = by_ranking(sequence_logprobs(base, ids, mask, labels), places)
        loss, rewards = listwise_dpo_loss(pi, by_ranking(ref[rows], places), places, config.beta, weights[idx])
        return loss, rewards, places, mask

    def loss_fn(idx: list[int]):
        loss, rewards, places, mask = rewards_and_loss(idx)
        return loss, {**reward_metrics(*ranked_pairs(rewards, places)), "tokens": float(mask.sum())}

    def eval_fn() -> dict[str, float]:
        losses, better, worse = [], [], []
        for idx in chunks(eval_idx, config.batch_size):
            loss, rewards, places, _ = rewards_and_loss(idx)
            losses.append(loss * len(idx))
            for side, values in zip((better, worse), ranked_pairs(rewards, places)):
                side.append(values)
        values = {"loss": (sum(losses) / len(eval_idx)).item(), **reward_metrics(torch.cat(better), torch.cat(worse))}
        return {f"eval_{k}": v for k, v in values.items()}

    return run_supervised(base=base, adapter=ADAPTER, heads={}, train_idx=train_idx, loss_fn=loss_fn,
                          eval_fn=eval_fn if eval_idx else None, split=prompt_split(rankings, eval_idx),
                          config=config, run_dir=run_dir, hooks=hooks,
                          tokens=ranking_step_tokens(encoded, config.batch_size), resume=resume)
