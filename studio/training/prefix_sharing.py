"""Log-probs of k responses to the same prompt, with the prompt run through the model once, not k times.

RLOO (and any k-samples-per-prompt method) scores k responses that share their prompt. `ppo.forward` runs
each row's prompt again; here the prompt goes through the decoder once per group, its key/value cache is
repeated k times (`DynamicCache.batch_repeat_interleave`, differentiable, so gradients through the prompt's
keys and values add up over the k responses), and only the responses are run on top of it, as `generate`
does. With SmolLM2's 44-token chat prompt and 48-token responses at k = 4 that is about a third fewer
tokens per forward. The numbers are `ppo.forward`'s (a test checks they match): same positions, same LM
head (`SharedBase.lm_logits`), same temperature.
"""
from __future__ import annotations

import torch

from studio.training.chosen_logprobs import response_logprobs
from studio.training.shared_base import SharedBase


def grouped_forward(base: SharedBase, query_ids: torch.Tensor, query_mask: torch.Tensor, response_ids: torch.Tensor,
                    k: int, temperature: float, mask: torch.Tensor | None = None, entropy: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log-probs, entropies) of the response tokens, as `ppo.forward`; rows g*k .. g*k+k-1 share one prompt.

    `query_ids`/`query_mask` are left-padded (the k rows of a group identical), `response_ids` (n, R) right-padded;
    only positions where `mask` is non-zero (all when None) are computed, the others read 0.
    """
    decoder = base.base.get_decoder()
    prompt_mask = query_mask[::k]
    prompt_positions = (prompt_mask.cumsum(1) - 1).clamp(min=0)  # as `generate` numbers left-padded rows
    with base.trunk_precision():
        prompt = decoder(input_ids=query_ids[::k], attention_mask=prompt_mask, position_ids=prompt_positions,
                         use_cache=True)
    cache = prompt.cache
    cache.batch_repeat_interleave(k)
    width = response_ids.size(1)
    steps = torch.arange(1, width, device=response_ids.device)
    positions = prompt_positions[:, -1:].repeat_interleave(k, 0) + steps  # the responses continue the prompt
    attention = torch.cat([query_mask, torch.ones_like(response_ids[:, :-1])], 1)
    hidden = [prompt.last_hidden_state[:, -1:].repeat_interleave(k, 0)]  # predicts the first response token
    if width > 1:
        with base.trunk_precision():
            hidden.append(decoder(input_ids=response_ids[:, :-1], attention_mask=attention,
                                  position_ids=positions, cache=cache, use_cache=True).last_hidden_state)
    return response_logprobs(base.lm_logits, torch.cat(hidden, 1), response_ids, mask, temperature, base.plain_head,
                             entropy)
