"""The sampler's own log-probs of the tokens it drew, to measure how far the learner's scoring pass is from them.

Under bf16 the answers are sampled from bfloat16 logits (`SharedBase.bf16_decoding`, a bf16 LM head) while PPO
and RLOO score them with a float32 head over the `bf16_trunk` pass: the ratio's "old" log-probs are then not
exactly the sampling policy's (review finding 6). While `recording` is open, the model's logits at each
decoding step (what `generate` hands the sampler) are turned into log_softmax(logits / temperature), the
distribution PPO's and RLOO's sampler draws from (top_p 1.0), and gathered at the token the next step feeds in
(the last step's at the last response token), holding one step's distribution at a time. Measured, not
corrected: no importance weights are applied.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from studio.training.shared_base import SharedBase


class Recording:
    """Per decoding step, the sampler's log-prob of each row's drawn token ((B,) each)."""

    def __init__(self, temperature: float):
        self.temperature = temperature
        self.steps: list[torch.Tensor] = []
        self.pending: torch.Tensor | None = None  # the newest step's log-probs, waiting for its token

    def logprobs(self, response_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, R) log-probs of `response_ids` as sampled, 0 where `mask` is 0."""
        steps = self.steps + ([] if self.pending is None else [self.pending.gather(1, response_ids[:, -1:])[:, 0]])
        if len(steps) != response_ids.size(1):
            raise RuntimeError(f"recorded {len(steps)} sampling steps for {response_ids.size(1)} tokens")
        return torch.stack(steps, 1) * mask


@contextmanager
def recording(base: SharedBase, temperature: float) -> Iterator[Recording]:
    """Record the sampler's log-probs during one `generate_tokens` call on `base`."""
    rec = Recording(temperature)
    model = base.base

    def before_forward(module, args, kwargs) -> None:
        if rec.pending is not None:
            ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
            rec.steps.append(rec.pending.gather(1, ids[:, -1:])[:, 0])
            rec.pending = None

    def after_forward(module, args, kwargs, out) -> None:
        rec.pending = torch.log_softmax(out.logits[:, -1].float() / rec.temperature, -1)

    handles = [model.register_forward_pre_hook(before_forward, with_kwargs=True),
               model.register_forward_hook(after_forward, with_kwargs=True)]
    try:
        yield rec
    finally:
        for handle in handles:
            handle.remove()


def mismatch(sampled: torch.Tensor, scored: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute gap, in nats per response token, between the sampler's and the scoring pass's log-probs."""
    return ((sampled - scored).abs() * mask).sum().item() / mask.sum().clamp(min=1).item()
