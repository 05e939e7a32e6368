"""Precision: when the engines run the decoder under bfloat16 autocast (`wants_bf16`), and how (`BF16Precision`,
the part of `SharedBase` that switches its passes to bf16 with attention in float32, or decodes on bf16 weights).

`lm_logits` stays float32 whatever the precision, so log-probs and PPO ratios are never rounded to bf16.
"""
from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

FLOAT32_SDPA = "studio_sdpa_float32"  # the attention `bf16_trunk` switches sdpa models to


def _float32_sdpa(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: torch.Tensor | None, **kwargs) -> tuple[torch.Tensor, None]:
    """SDPA in float32 inside a bf16 autocast: on a CPU its bf16 backward is 3.5x slower than float32's
    (bench/RESULTS.md section 22), and attention is a small share of the arithmetic."""
    with torch.autocast(query.device.type, enabled=False):
        query, key, value = query.float(), key.float(), value.float()
        groups = getattr(module, "num_key_value_groups", 1)
        if (query.device.type == "cpu" and groups > 1 and query.size(2) > 1 and attention_mask is not None
                and not set(kwargs) & {"position_bias", "softcap", "output_attentions"}):
            # transformers repeats the key/value heads `groups` times when there is a mask; the CPU kernel takes
            # grouped heads with a mask itself (enable_gqa), which halves attention's forward and backward here
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                 dropout_p=kwargs.get("dropout", 0.0), scale=kwargs.get("scaling"),
                                                 enable_gqa=True)
            return out.transpose(1, 2).contiguous(), None
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


AttentionInterface.register(FLOAT32_SDPA, _float32_sdpa)
AttentionMaskInterface.register(FLOAT32_SDPA, sdpa_mask)


class BF16Precision:
    """bf16 switches of a `SharedBase`: its causal LM `base`, on `device`; `bf16` is true inside `bf16_trunk`."""

    base: nn.Module
    device: torch.device
    bf16: bool
    hidden_size: int

    @contextmanager
    def bf16_trunk(self, enabled: bool = True) -> Iterator[None]:
        """For the block (when `enabled`), `hidden_states` runs the decoder's matrix products under bfloat16
        autocast, its attention in float32 (sdpa models); `lm_logits` stays float32 either way."""
        if not enabled or self.bf16:
            yield
            return
        config = self.base.config
        attention = config._attn_implementation
        if attention == "sdpa":
            config._attn_implementation = FLOAT32_SDPA
        self.bf16 = True
        try:
            yield
        finally:
            self.bf16 = False
            config._attn_implementation = attention

    @contextmanager
    def bf16_decoding(self, enabled: bool = True) -> Iterator[None]:
        """For the block (when `enabled`), `generate` runs as `bf16_trunk`'s passes do, on bfloat16 weights:
        each frozen linear weight of the base is swapped for a bf16 copy, so autocast does not cast it again at
        every decode step, and the LM head for a bf16 copy (tied heads share their weight with the input
        embedding, which stays float32). Decoding reads every weight per token, so halving them takes 0.3 of
        PPO's sampling time on SmolLM2-135M; the copies (~260 MiB there) live only for the block, and are not
        made when `bf16_weights` already holds the weights in bf16."""
        if not enabled:
            yield
            return
        head = self.base.get_output_embeddings()
        frozen = self._frozen_float32_weights()
        kept = [w.data for w in frozen]
        swap_head = isinstance(head, nn.Linear) and head.bias is None
        try:
            # `.data`, not new Parameters: PEFT's layers and the optimizer keep the Parameter objects they hold
            for w in frozen:
                w.data = w.data.to(torch.bfloat16)
            if swap_head:
                copy = torch.nn.utils.skip_init(nn.Linear, head.in_features, head.out_features, bias=False,
                                                device=head.weight.device, dtype=torch.bfloat16)
                copy.weight.requires_grad_(False).copy_(head.weight)
                self.base.set_output_embeddings(copy)
            with self.bf16_trunk(), self.trunk_precision():
                yield
        finally:
            for w, data in zip(frozen, kept):
                w.data = data
            if swap_head:
                self.base.set_output_embeddings(head)

    @contextmanager
    def bf16_weights(self, enabled: bool = True) -> Iterator[None]:
        """For the block (when `enabled`), the base's frozen linear weights (the LM head aside) are stored in
        bfloat16, as autocast would cast them at every pass: no float32 copy, no bf16 casts kept for the backward
        pass, no per-round copies for decoding (together ~0.5 GiB of an RLOO round's peak on SmolLM2-135M, bench/
        RESULTS.md section 26). The float32 weights wait in an unnamed temporary file (gone with the process, even
        after a kill) and are read back bit for bit at the end; with no room on disk they stay in memory."""
        frozen, spill = self._frozen_float32_weights() if enabled else [], None
        if frozen:
            try:
                spill = tempfile.TemporaryFile()
                for w in frozen:
                    spill.write(w.data.cpu().contiguous().numpy().data.cast("B"))
            except OSError:
                frozen = []
        for w in frozen:
            w.data = w.data.to(torch.bfloat16)
        try:
            yield
        finally:
            if frozen:
                spill.seek(0)
                for w in frozen:  # the bf16 data keeps the shape and device to restore
                    full = torch.empty(w.shape, dtype=torch.float32)
                    spill.readinto(full.numpy().data.cast("B"))
                    w.data = full.to(w.device)
            if spill is not None:
                spill.close()

    def _frozen_float32_weights(self) -> list[nn.Parameter]:
        """The float32 weights of the base's frozen linear layers, its LM head and the LoRA layers aside."""
        head = self.base.get_output_embeddings()
        return [m.weight for name, m in self.base.named_modules()
                if isinstance(m, nn.Linear) and m is not head and "lora_" not in name
                and not m.weight.requires_grad and m.weight.dtype == torch.float32]

    def trunk_precision(self) -> torch.autocast:
        """The autocast every decoder pass of an engine runs under: bf16 inside `bf16_trunk`, else off."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


BF16_MIN_HIDDEN = 512  # below it the casts outweigh the faster products (the tiny test models)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX tiles or AVX-512 BF16); torch's own probes."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def wants_bf16(setting: bool | None, base: BF16Precision) -> bool:
    """An engine's `bf16_autocast`, or when it is unset: on for a float32 model of hidden size >= `BF16_MIN_HIDDEN`
    on a CPU with native bf16, where a PPO update step is 1.5x faster and a reward-model step 1.5-1.7x (RESULTS
    sections 22, 23)."""
    if setting is not None:
        return setting
    return (base.device.type == "cpu" and next(base.base.parameters()).dtype == torch.float32
            and base.hidden_size >= BF16_MIN_HIDDEN and cpu_has_native_bf16())


def on_bf16_weights(train: Callable[..., object]) -> Callable[..., object]:
    """An online engine's `train(base, prompts, score_fn, config, ...)`, run inside `base.bf16_weights` when its
    config wants bf16 (`wants_bf16`)."""
    @functools.wraps(train)
    def run(base: BF16Precision, prompts: list[str], score_fn, config, *args, **kwargs):
        with base.bf16_weights(wants_bf16(config.bf16_autocast, base)):
            return train(base, prompts, score_fn, config, *args, **kwargs)
    return run
