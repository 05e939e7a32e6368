"""Scalar heads (a reward model's score, PPO's value) and their safetensors file beside an adapter."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn


class ScalarHead(nn.Module):
    """A linear head that maps a hidden state to one number (reward or value)."""

    def __init__(self, hidden_size: int, std: float | None = None):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.linear.weight, std=std if std is not None else 1 / (hidden_size + 1) ** 0.5)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden).squeeze(-1)


def save_heads(heads: dict[str, nn.Module], path: Path, meta: dict | None = None) -> None:
    """Save heads as one safetensors file: keys `<head>.<param>`; JSON-able meta in the header."""
    state = {f"{name}.{k}": v.detach().contiguous().cpu() for name, head in heads.items()
             for k, v in head.state_dict().items()}
    save_file(state, str(path), metadata={"meta": json.dumps(meta or {})})


def load_heads(heads: dict[str, nn.Module], path: Path) -> dict:
    """Load heads saved by `save_heads` in place; returns the stored meta."""
    from safetensors import safe_open

    state = load_file(str(path))
    for name, head in heads.items():
        sub = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
        head.load_state_dict(sub)
    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("meta", "{}"))
