"""One base model in memory; every role (SFT, reward, the PPO/RLOO policy, DPO, KTO) is a named LoRA adapter on it.

The PPO and RLOO reference is an adapter (or the adapters switched off), never a second copy of the base:
this is what lets RLHF fit on a laptop. PEFT is imported on the first adapter use, not before: it takes
seconds to import, and generating from the base model (Rank, Compare) does not need it. Its bf16 switches live in
`precision`, the scalar heads beside an adapter in `heads`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.pytorch_utils import Conv1D

from studio.core.output import cache_dir
from studio.core.project import Project
from studio.training import models
from studio.training.precision import BF16Precision

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LOGITS_CHECKED = "logits-checked.txt"  # in the user cache: `logits_key`s of the models that passed `check_logits`
POST_PROCESSING = ("logit_scale", "logits_scaling", "final_logit_softcapping")  # what `lm_logits` applies


class SharedBase(BF16Precision):
    """A causal LM wrapped once in PEFT, holding several named LoRA adapters."""

    def __init__(self, model: nn.Module, tokenizer, device: torch.device | None = None, source: str = "",
                 verdicts: Path | None = None):
        self.base = model
        self.tokenizer = tokenizer
        self.device = device or next(model.parameters()).device
        self.source = source
        self.peft: PeftModel | None = None
        self.trainable: set[str] = set()
        self.targets = _lora_targets(model)
        self.bf16 = False  # `hidden_states` under bf16 autocast (see `bf16_trunk`)
        for p in model.parameters():
            p.requires_grad_(False)
        _disable_dropout(model)
        known = logits_key(model, self.device) if verdicts is not None else None
        if known is None or not (verdicts.is_file() and known in verdicts.read_text().split()):
            check_logits(self)
            if known is not None:
                remember(verdicts, known)

    @classmethod
    def from_loaded(cls, loaded) -> SharedBase:
        """Build from a `models.LoadedModel`; its logits check is remembered in the user cache, so a model passes
        it once (0.3 s of the start on the embedded model)."""
        return cls(loaded.model, loaded.tokenizer, loaded.device, str(loaded.source),
                   verdicts=cache_dir() / LOGITS_CHECKED)

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
        from peft import LoraConfig

        self.drop(name)
        cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, task_type="CAUSAL_LM",
                         target_modules=targets or self.targets, base_model_name_or_path=self.source)
        self._add(name, cfg)
        self.trainable.add(name)
        self._apply_trainable()

    def load_adapter(self, name: str, path: Path, trainable: bool = False) -> None:
        """Load a saved adapter folder (safetensors) as `name`."""
        from peft import LoraConfig, set_peft_model_state_dict

        self.drop(name)
        path = Path(path)
        self._add(name, LoraConfig.from_pretrained(path))
        set_peft_model_state_dict(self.peft, load_file(path / "adapter_model.safetensors"), adapter_name=name)
        if trainable:
            self.trainable.add(name)
        self._apply_trainable()

    def copy_adapter(self, src: str, dst: str) -> None:
        """Make `dst` a trainable copy of adapter `src` (PPO/RLOO policy, DPO/KTO adapter initialised from SFT)."""
        from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict

        self.drop(dst)
        cfg = self.peft.peft_config[src]
        self._add(dst, LoraConfig(**{**cfg.to_dict(), "inference_mode": False}))
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
            try:
                with ctx:
                    yield self.model
            finally:  # leaving disable_adapter makes only the active adapter trainable: put ours back
                if self.peft is not None:
                    self._apply_trainable()
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
        with self.trunk_precision():
            out = self.base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                          position_ids=position_ids, use_cache=False)
        return out.last_hidden_state

    @property
    def plain_head(self) -> torch.Tensor | None:
        """The LM head's float32 weight when `lm_logits(h)` is exactly `h @ weight.T` (no bias, scaling or
        soft-capping, a float32 model); else None."""
        head, config = self.base.get_output_embeddings(), self.base.config.get_text_config()
        if head.bias is not None or head.weight.dtype != torch.float32 or any(
                getattr(config, key, None) is not None for key in POST_PROCESSING):
            return None
        return head.weight

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Float32 logits as the model's own forward makes them: the LM head (in float32 whatever the model's
        dtype or autocast, so log-probs and PPO ratios are not rounded to bf16), then the model's own scaling
        (Cohere's logit_scale, Granite's logits_scaling, Gemma 2/3's final soft-capping)."""
        head = self.base.get_output_embeddings()
        with torch.autocast(hidden.device.type, enabled=False):
            bias = head.bias.float() if head.bias is not None else None
            logits = F.linear(hidden.float(), head.weight.float(), bias)
        config = self.base.config.get_text_config()
        if getattr(config, "logit_scale", None) is not None:
            logits = logits * config.logit_scale
        if getattr(config, "logits_scaling", None) is not None:
            logits = logits / config.logits_scaling
        if getattr(config, "final_logit_softcapping", None) is not None:
            logits = torch.tanh(logits / config.final_logit_softcapping) * config.final_logit_softcapping
        return logits

    # -- internals --------------------------------------------------------------
    def _add(self, name: str, cfg: LoraConfig) -> None:
        """Add adapter `name` without dropout, its parameters in float32 whatever the base's dtype."""
        from peft import get_peft_model

        cfg.lora_dropout = 0.0
        if self.peft is None:
            self.peft = get_peft_model(self.base, cfg, adapter_name=name)
        else:
            self.peft.add_adapter(name, cfg)
        for n, p in self.peft.named_parameters():
            if "lora_" in n and f".{name}." in n:
                p.data = p.data.float()
        _disable_dropout(self.peft)

    def _apply_trainable(self) -> None:
        for n, p in self.peft.named_parameters():
            if "lora_" in n:
                p.requires_grad_(any(f".{a}." in n for a in self.trainable))


def open_base(project: Project, device: str = "auto", progress: Callable[[str], None] | None = None) -> SharedBase:
    """Load the project's model once; every role is an adapter on it."""
    return SharedBase.from_loaded(models.load_model(project.model_spec, device=device, progress=progress))


class UnsupportedModelError(ValueError):
    """The model computes its logits in a way the engines do not reproduce."""


@torch.no_grad()
def check_logits(base: SharedBase) -> None:
    """Refuse a model whose own forward's logits differ from `hidden_states` + `lm_logits` (checked once, on a
    few tokens): an architecture that post-processes its logits in a way we do not know would train wrongly."""
    ids = torch.arange(1, 9, device=base.device).remainder(base.base.config.get_text_config().vocab_size)[None]
    mask = torch.ones_like(ids)
    expected = base.base(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
    ours = base.lm_logits(base.hidden_states(ids, mask))
    tolerance = 1e-3 if expected.dtype == next(base.base.parameters()).dtype == torch.float32 else 5e-2
    if not torch.allclose(ours, expected, atol=tolerance * (1 + expected.abs().max().item()), rtol=0):
        raise UnsupportedModelError(
            f"{type(base.base).__name__} post-processes its output logits in a way Alignment Studio does not "
            "reproduce, so training would score the wrong distribution: choose another model.")


def logits_key(model: nn.Module, device: torch.device) -> str | None:
    """What the logits check's verdict depends on: the transformers class, its config, the versions of torch and
    transformers, the weights' dtype and the device; None for a class outside transformers (its code may change)."""
    if not type(model).__module__.startswith("transformers."):
        return None
    import transformers

    parts = [type(model).__module__, type(model).__qualname__, model.config.to_json_string(use_diff=False),
             torch.__version__, transformers.__version__, str(next(model.parameters()).dtype), device.type]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def remember(verdicts: Path, key: str) -> None:
    """Add `key` to the file of models that passed the check (best effort: a read-only cache checks every time)."""
    try:
        verdicts.parent.mkdir(parents=True, exist_ok=True)
        with verdicts.open("a") as f:
            f.write(key + "\n")
    except OSError:
        pass


def _disable_dropout(model: nn.Module) -> None:
    """Dropout off for good in every role (TRL's disable_dropout_in_model), attention dropout included, so the
    first PPO ratio is 1 (to float rounding: old log-probs come from generation's cached pass) and DPO starts
    with policy = reference even in train mode."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    for config in {id(c): c for c in [model.config, model.config.get_text_config()]}.values():
        for key in ("attention_dropout", "attn_pdrop", "resid_pdrop", "embd_pdrop", "hidden_dropout", "dropout"):
            if isinstance(getattr(config, key, None), float):
                setattr(config, key, 0.0)


def _lora_targets(model: nn.Module) -> list[str]:
    """The attention and MLP projections LoRA should adapt (all linear layers but the LM head; GPT-2's are Conv1D)."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, (nn.Linear, Conv1D))}
    found = [t for t in DEFAULT_TARGETS if t in names]
    return found or sorted(names - {"lm_head"})
