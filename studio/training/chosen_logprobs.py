"""Log-probs of the chosen tokens and the entropies, without keeping full-vocabulary logits for backward.

The LM head runs as a 2-D matmul on the selected positions only (N, H), a chunk of positions at a time. Each
chunk's logits (chunk, vocab) are made, turned into the chosen token's log-prob and the entropy, and freed.
A chosen log-prob is one number per position whose input is one hidden vector, so its gradient with respect
to that vector (the Jacobian, N x H) is all backward needs: it is computed in the chunk's own forward (the
head's forward and backward, as plain autograd would run them, only earlier) and kept instead of the
(N, vocab) log-softmax. The LM head must be frozen (the shared base freezes every base weight).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

LMLogits = Callable[[torch.Tensor], torch.Tensor]
CHUNK = 128  # positions per LM-head chunk: 128 x 49,152 x 4 bytes = 25 MB of logits for SmolLM2


class _Chosen(torch.autograd.Function):
    """Returns `values` (N,); backward hands `grad * jacobian` (N, H) to the hidden states."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, values: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(jacobian)
        return values.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (jacobian,) = ctx.saved_tensors
        return grad.unsqueeze(-1).to(jacobian.dtype) * jacobian, None, None


def chosen_logprobs(lm_logits: LMLogits, hidden: torch.Tensor, tokens: torch.Tensor, temperature: float,
                    chunk: int = CHUNK, linear: torch.Tensor | None = None, entropy: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log p(token), entropy) in float32 at each of the N positions of `hidden` (N, H), `tokens` (N,).

    `lm_logits` is `SharedBase.lm_logits`; the log-probs carry gradients to `hidden` when it has them, the
    entropies (nats, of the tempered distribution) never do. `linear`: the head's float32 weight (V, H) when
    `lm_logits(h)` is exactly `h @ linear.T` (`SharedBase.plain_head`); the Jacobian is then read off the
    softmax already computed, (onehot - p) @ W / T, instead of a second pass through autograd (a tenth of a
    PPO update step on SmolLM2, RESULTS section 22). `entropy=False` returns None for the entropies and, without
    gradients, takes only a logsumexp over the vocabulary (the reference's log-probs need no more)."""
    needs_grad = hidden.requires_grad and torch.is_grad_enabled()
    values, entropies, jacobians = [], [], []
    for start in range(0, hidden.size(0), chunk):
        h, t = hidden[start:start + chunk].detach().float(), tokens[start:start + chunk]  # float32 Jacobian
        by_autograd = needs_grad and linear is None
        with torch.enable_grad() if by_autograd else torch.no_grad():
            if by_autograd:
                h.requires_grad_(True)
            logits = lm_logits(h)
            logits = logits / temperature if temperature != 1 else logits
            if not (entropy or needs_grad):
                values.append(logits.gather(-1, t.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1))
                continue
            logp = torch.log_softmax(logits, dim=-1)
            del logits
            chosen = logp.gather(-1, t.unsqueeze(-1)).squeeze(-1)
            if by_autograd:
                (jacobian,) = torch.autograd.grad(chosen.sum(), h)
                jacobians.append(jacobian)
        with torch.no_grad():
            p = logp.exp()
            if entropy:
                entropies.append(-torch.linalg.vecdot(p, logp))
            if needs_grad and linear is not None:
                weights = p.neg_().scatter_add_(1, t.unsqueeze(-1), torch.ones_like(chosen).unsqueeze(-1))  # onehot - p
                jacobians.append(weights @ linear / temperature)
        values.append(chosen.detach())
        del logp, p
    values, entropies = torch.cat(values), torch.cat(entropies) if entropy else None
    if needs_grad:
        return _Chosen.apply(hidden, values, torch.cat(jacobians)), entropies
    return values, entropies


def response_logprobs(lm_logits: LMLogits, hidden: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None,
                      temperature: float, linear: torch.Tensor | None = None, entropy: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log-probs, entropies), each (B, R), of `tokens` (B, R) after the hidden states `hidden` (B, R, H);
    entropies None when `entropy` is False.

    Only the positions where `mask` is non-zero (all, when None) go through the LM head; the others read 0."""
    select = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask.bool()
    logprobs, entropies = chosen_logprobs(lm_logits, hidden[select], tokens[select], temperature, linear=linear,
                                          entropy=entropy)
    zeros = torch.zeros(tokens.shape, dtype=torch.float32, device=tokens.device)
    return zeros.masked_scatter(select, logprobs), None if entropies is None else zeros.masked_scatter(select, entropies)
