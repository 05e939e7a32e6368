"""Log-probabilities of the response tokens of padded chat batches (labels != -100) under the active adapter:
per token (SFT's loss) and summed per row (DPO's and KTO's sequence log-probs)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from studio.training.shared_base import SharedBase


def response_logprobs(base: SharedBase, ids, mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """log p of every response token (labels != -100) under the active adapter, and the row each belongs to.

    The LM head runs only on the positions that predict a response token: full-vocabulary float32 logits
    over the prompts too would cost B x L x vocab x 4 bytes (0.8 GB at 8 x 512 with a 49k vocabulary)."""
    targets = labels[:, 1:]
    where = targets != -100
    hidden = base.hidden_states(ids, mask)[:, :-1][where]
    logprobs = -F.cross_entropy(base.lm_logits(hidden), targets[where], reduction="none")
    return logprobs, where.nonzero()[:, 0]


def sequence_logprobs(base: SharedBase, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per row, the summed log-probability of the response tokens (labels != -100) under the active adapter."""
    logprobs, rows = response_logprobs(base, ids, mask, labels)
    return torch.zeros(ids.size(0), device=logprobs.device).index_add(0, rows, logprobs)
