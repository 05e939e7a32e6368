"""One base model in memory; every role (SFT, reward, PPO policy, DPO) is a named LoRA adapter on it.

The PPO reference is an adapter (or the adapters switched off), never a second copy of the base:
this is what lets RLHF fit on a laptop. PEFT is imported on the first adapter use, not before: it takes
seconds to import, and generating from the base model (Rank, Compare) does not need it.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file
from torch import nn

if TYPE_CHECKING:
    from peft import PeftModel

DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class SharedBase:
    """A causal LM wrapped once in PEFT, holding several named LoRA adapters."""

    def __init__(self, model: nn.Module, tokenizer, device: torch.device | None = None, source: str = ""):
        self.base = model
        self.tokenizer = tokenizer
        self.device = device or next(model.parameters()).device
        self.source = source
        self.peft: PeftModel | None = None
        self.trainable: set[str] = set()
        self.targets = _lora_targets(model)
        for p in model.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_loaded(cls, loaded) -> SharedBase:
        """Build from a `models.LoadedModel`."""
        return cls(loaded.model, loaded.tokenizer, loaded.device, str(loaded.source))

    # -- adapters -------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The causal LM to call: the PEFT wrapper once an adapter exists, else the bare base."""
        return self.peft if self.peft is not None else self.base

    def adapters(self) -> list[str]:
        return list(self.peft.peft_config) if self.peft is not None else []

    def add_lora(self, name: str, r: int = 16, alpha: int = 32, dropout: float = 0.0,
                 targets: list[str] | None = None) -> None:
        """Add a fresh trainable LoRA adapter called `name` (replacing one of that name)."""
        from peft import LoraConfig, get_peft_model

        self.drop(name)
        cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, task_type="CAUSAL_LM",
                         target_modules=targets or self.targets, base_model_name_or_path=self.source)
        if self.peft is None:
            self.peft = get_peft_model(self.base, cfg, adapter_name=name)
        else:
            self.peft.add_adapter(name, cfg)
        self.trainable.add(name)
        self._apply_trainable()

    def load_adapter(self, name: str, path: Path, trainable: bool = False) -> None:
        """Load a saved adapter folder (safetensors) as `name`."""
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        self.drop(name)
        path = Path(path)
        cfg = LoraConfig.from_pretrained(path)
        if self.peft is None:
            self.peft = get_peft_model(self.base, cfg, adapter_name=name)
        else:
            self.peft.add_adapter(name, cfg)
        set_peft_model_state_dict(self.peft, load_file(path / "adapter_model.safetensors"), adapter_name=name)
        if trainable:
            self.trainable.add(name)
        self._apply_trainable()

    def copy_adapter(self, src: str, dst: str) -> None:
        """Make `dst` a trainable copy of adapter `src` (PPO/DPO policy initialised from SFT)."""
        from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict

        self.drop(dst)
        cfg = self.peft.peft_config[src]
        self.peft.add_adapter(dst, LoraConfig(**{**cfg.to_dict(), "inference_mode": False}))
        set_peft_model_state_dict(self.peft, get_peft_model_state_dict(self.peft, adapter_name=src), adapter_name=dst)
        self.trainable.add(dst)
        self._apply_trainable()

    def drop(self, name: str) -> None:
        """Remove adapter `name` if present."""
        if self.peft is not None and name in self.peft.peft_config:
            from peft import LoraConfig

            if len(self.peft.peft_config) == 1:
                self.peft.add_adapter("_placeholder", LoraConfig(r=1, target_modules=self.targets[:1]))
            self.peft.set_adapter(next(n for n in self.peft.peft_config if n != name))
            self.peft.delete_adapter(name)
        self.trainable.discard(name)

    def save_adapter(self, name: str, path: Path) -> Path:
        """Write adapter `name` as a standard PEFT folder (adapter_config.json + adapter_model.safetensors)."""
        from peft import get_peft_model_state_dict

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.peft.peft_config[name].save_pretrained(str(path))
        state = {k: v.detach().contiguous().cpu() for k, v in
                 get_peft_model_state_dict(self.peft, adapter_name=name).items()}
        save_file(state, str(path / "adapter_model.safetensors"), metadata={"format": "pt"})
        return path

    def adapter_parameters(self, name: str) -> list[nn.Parameter]:
        """The LoRA parameters of adapter `name`."""
        return [p for n, p in self.peft.named_parameters() if "lora_" in n and f".{name}." in n]

    @contextmanager
    def use(self, name: str | None) -> Iterator[nn.Module]:
        """Activate adapter `name` (None = base model, adapters off) for the duration of the block."""
        if self.peft is None or name is None:
            ctx = self.peft.disable_adapter() if self.peft is not None else nullcontext()
            with ctx:
                yield self.model
            return
        previous = self.peft.active_adapter
        self.peft.set_adapter(name, inference_mode=True)
        self._apply_trainable()
        try:
            yield self.peft
        finally:
            self.peft.set_adapter(previous, inference_mode=True)
            self._apply_trainable()

    # -- forward helpers --------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return self.base.config.hidden_size

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Last-layer hidden states (after the final norm) with the active adapter, without the LM head.

        Pass `position_ids` for left-padded batches so positions match those `generate` used.
        """
        out = self.base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                      position_ids=position_ids, use_cache=False)
        return out.last_hidden_state

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.base.get_output_embeddings()(hidden)

    # -- internals --------------------------------------------------------------
    def _apply_trainable(self) -> None:
        for n, p in self.peft.named_parameters():
            if "lora_" in n:
                p.requires_grad_(any(f".{a}." in n for a in self.trainable))


def _lora_targets(model: nn.Module) -> list[str]:
    """The attention and MLP projections LoRA should adapt (all linear layers but the LM head)."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    found = [t for t in DEFAULT_TARGETS if t in names]
    return found or sorted(names - {"lm_head"})


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
