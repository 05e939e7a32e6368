"""The textbook four-model PPO that `ppo_memory.py` compares our shared-base engine against.

Four separate models, as TRL's PPOTrainer and most RLHF write-ups hold them:
- policy: a copy of the base with a LoRA adapter (the only trainable part of it);
- reference: a second, frozen full copy;
- reward: a third full copy with a scalar head on the last token (frozen);
- value: a fourth full copy with a scalar head on every token, trained in full next to the policy LoRA.

One iteration: sample from the policy, forward policy / reference / reward / value on the rollout,
per-token KL-penalised rewards, GAE, whitened advantages, then `ppo_epochs` passes over minibatches with
the clipped policy and value losses from `studio.training.ppo_losses`, backpropagating through the policy
LoRA and the whole value model with one AdamW optimizer. Plain and faithful, not tuned.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from peft import LoraConfig, get_peft_model

from studio.training.generation import SamplingConfig, eos_ids, generate_tokens
from studio.training.models import load_model
from studio.training.ppo_losses import gae, kl_penalty_rewards, masked_whiten, policy_loss, token_logprobs, value_loss
from studio.training.reward import last_token_hidden
from studio.training.heads import ScalarHead


@dataclass
class FourModelConfig:
    batch_size: int = 8
    max_new_tokens: int = 48
    ppo_epochs: int = 4
    minibatches: int = 1
    lr: float = 1e-4
    kl_coef: float = 0.05
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    seed: int = 0


class ValueModel(torch.nn.Module):
    """A full decoder with a scalar head on every position."""

    def __init__(self, causal_lm: torch.nn.Module, hidden_size: int):
        super().__init__()
        self.decoder = causal_lm.get_decoder()
        self.head = ScalarHead(hidden_size, std=1e-3).to(next(causal_lm.parameters()).device)

    def forward(self, ids, attention, positions):
        hidden = self.decoder(input_ids=ids, attention_mask=attention, position_ids=positions,
                              use_cache=False).last_hidden_state
        return self.head(hidden.float())


class FourModelPPO:
    """Policy, reference, reward and value as four separate models."""

    def __init__(self, model_dir: str, device: str, config: FourModelConfig):
        self.config = config
        torch.manual_seed(config.seed)
        loaded = [load_model(model_dir, device=device) for _ in range(4)]
        self.tokenizer = loaded[0].tokenizer
        policy_base, self.reference, reward_lm, value_lm = (m.model for m in loaded)
        hidden = policy_base.config.hidden_size
        for model in (policy_base, self.reference, reward_lm, value_lm):
            model.requires_grad_(False)
        cfg = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
                         target_modules=list(config.lora_targets))
        self.policy = get_peft_model(policy_base, cfg)
        self.reward_decoder = reward_lm.get_decoder()
        self.reward_head = ScalarHead(hidden).to(loaded[0].device)
        self.reward_head.requires_grad_(False)
        self.value = ValueModel(value_lm, hidden)
        self.value.requires_grad_(True)
        params = [p for p in self.policy.parameters() if p.requires_grad] + list(self.value.parameters())
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, eps=1e-5)
        self.eos = eos_ids(policy_base, self.tokenizer)

    def iteration(self, prompts: list[str], seed: int) -> dict[str, float]:
        """One PPO round on `prompts`; returns timings and sizes."""
        c = self.config
        t0 = time.perf_counter()
        with torch.no_grad():
            sampling = SamplingConfig(max_new_tokens=c.max_new_tokens, temperature=1.0, top_p=1.0, do_sample=True,
                                      seed=seed)
            batch = generate_tokens(self.policy, self.tokenizer, prompts, sampling)
            width = batch.query_ids.size(1)
            ids = torch.cat([batch.query_ids, batch.response_ids], 1)
            attention = torch.cat([batch.query_mask, torch.ones_like(batch.response_ids)], 1)
            positions = (attention.cumsum(1) - 1).clamp(min=0)
            mask = batch.response_mask.float()
            t_gen = time.perf_counter()
            logprobs = self._policy_logprobs(ids, attention, positions, width)
            ref_logits = self.reference(input_ids=ids, attention_mask=attention, position_ids=positions,
                                        use_cache=False).logits[:, width - 1:-1]
            ref_logprobs = token_logprobs(ref_logits.float(), ids[:, width:])
            del ref_logits
            real = torch.cat([batch.query_mask, batch.response_mask], 1)  # score the last real token
            hidden = self.reward_decoder(input_ids=ids, attention_mask=attention, position_ids=positions,
                                         use_cache=False).last_hidden_state
            scores = self.reward_head(last_token_hidden(hidden, real).float())
            values = self.value(ids, attention, positions)[:, width - 1:-1]
            rewards = kl_penalty_rewards(scores, logprobs, ref_logprobs, mask, c.kl_coef)
            advantages, returns = gae(rewards, values, mask, c.gamma, c.lam)
            advantages = masked_whiten(advantages, mask)
        t_score = time.perf_counter()

        self.policy.train()
        self.value.train()
        shuffle = torch.Generator().manual_seed(seed)
        for _ in range(c.ppo_epochs):
            for mb in torch.randperm(ids.size(0), generator=shuffle).chunk(c.minibatches):
                new_logprobs = self._policy_logprobs(ids[mb], attention[mb], positions[mb], width)
                new_values = self.value(ids[mb], attention[mb], positions[mb])[:, width - 1:-1]
                pg_loss, _, _ = policy_loss(new_logprobs, logprobs[mb], advantages[mb], mask[mb], c.cliprange)
                vf_loss = value_loss(new_values, values[mb], returns[mb], mask[mb], c.cliprange_value)
                loss = pg_loss + c.vf_coef * vf_loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, c.max_grad_norm)
                self.optimizer.step()
        self.policy.eval()
        self.value.eval()
        t_end = time.perf_counter()
        return {"iteration_s": t_end - t0, "generate_s": t_gen - t0, "score_s": t_score - t_gen,
                "update_s": t_end - t_score, "response_width": int(batch.response_ids.size(1)),
                "response_length": float(mask.sum(1).mean())}

    def _policy_logprobs(self, ids, attention, positions, width):
        logits = self.policy(input_ids=ids, attention_mask=attention, position_ids=positions,
                             use_cache=False).logits[:, width - 1:-1]
        return token_logprobs(logits.float(), ids[:, width:])
