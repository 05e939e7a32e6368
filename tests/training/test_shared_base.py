"""The shared base reproduces each model's own logits, keeps dropout off, LoRA in float32 and roles apart."""
from __future__ import annotations

import pytest
import torch
from transformers import (CohereConfig, CohereForCausalLM, Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM,
                          Gemma3TextConfig, GPT2Config, GPT2LMHeadModel, GraniteConfig, GraniteForCausalLM,
                          LlamaConfig, LlamaForCausalLM)

from studio.training.ppo import forward
from studio.training.shared_base import SharedBase, UnsupportedModelError

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
            pad_token_id=0)


def tiny(model_cls, config_cls, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    return model_cls(config_cls(**TINY, **extra)).eval()


@pytest.mark.parametrize("model", [
    lambda: tiny(Gemma2ForCausalLM, Gemma2Config, final_logit_softcapping=0.5),
    lambda: tiny(Gemma3ForCausalLM, Gemma3TextConfig, final_logit_softcapping=0.5),
    lambda: tiny(GraniteForCausalLM, GraniteConfig, logits_scaling=4.0),
    lambda: tiny(CohereForCausalLM, CohereConfig, logit_scale=3.0),
], ids=["gemma2-softcap", "gemma3-softcap", "granite-scaling", "cohere-scale"])
def test_logprobs_equal_the_models_own_logits(model):
    model = model()
    base = SharedBase(model, tokenizer=None)
    ids = torch.randint(3, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    attention = torch.ones_like(ids)
    logprobs, _, _ = forward(base, None, ids, attention, prompt_width=4, temperature=1.0)
    expected = torch.log_softmax(model(ids).logits.float(), -1)[:, 3:-1].gather(-1, ids[:, 4:, None]).squeeze(-1)
    torch.testing.assert_close(logprobs, expected, atol=1e-5, rtol=1e-5)


class DoubledLogits(LlamaForCausalLM):
    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.logits = out.logits * 2
        return out


def test_a_model_with_unknown_logit_processing_is_refused():
    with pytest.raises(UnsupportedModelError, match="DoubledLogits post-processes its output logits"):
        SharedBase(tiny(DoubledLogits, LlamaConfig), tokenizer=None)


def test_a_passed_logits_check_is_remembered_per_class_config_and_versions(tmp_path, monkeypatch):
    from studio.training import shared_base

    checked = []
    real = shared_base.check_logits
    monkeypatch.setattr(shared_base, "check_logits", lambda base: (checked.append(base), real(base)))
    verdicts = tmp_path / "cache" / shared_base.LOGITS_CHECKED
    SharedBase(tiny(LlamaForCausalLM, LlamaConfig), tokenizer=None, verdicts=verdicts)
    SharedBase(tiny(LlamaForCausalLM, LlamaConfig), tokenizer=None, verdicts=verdicts)
    assert len(checked) == 1  # the second identical model is not checked again
    SharedBase(tiny(LlamaForCausalLM, LlamaConfig, rms_norm_eps=1e-5), tokenizer=None, verdicts=verdicts)
    SharedBase(tiny(LlamaForCausalLM, LlamaConfig), tokenizer=None)  # no verdicts file: always checked
    assert len(checked) == 3
    for _ in range(2):  # a class outside transformers is checked every time, and refused every time
        with pytest.raises(UnsupportedModelError):
            SharedBase(tiny(DoubledLogits, LlamaConfig), tokenizer=None, verdicts=verdicts)
    assert len(checked) == 5 and len(verdicts.read_text().split()) == 2


def test_dropout_is_off_in_every_role_even_in_train_mode():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                       resid_pdrop=0.5, embd_pdrop=0.5, attn_pdrop=0.5))
    base = SharedBase(model, tokenizer=None)
    base.add_lora("policy", dropout=0.5)
    ids = torch.randint(0, 64, (2, 10))
    base.model.train()
    with base.use("policy"):
        first, second = (base.lm_logits(base.hidden_states(ids, torch.ones_like(ids))) for _ in range(2))
    torch.testing.assert_close(first, second, atol=0, rtol=0)


def test_lora_parameters_are_float32_on_a_bfloat16_base():
    base = SharedBase(tiny(LlamaForCausalLM, LlamaConfig).to(torch.bfloat16), tokenizer=None)
    base.add_lora("sft")
    base.copy_adapter("sft", "policy")
    params = base.adapter_parameters("sft") + base.adapter_parameters("policy")
    assert params and {p.dtype for p in params} == {torch.float32}
    hidden = base.hidden_states(torch.tensor([[3, 4, 5]]), torch.ones(1, 3, dtype=torch.long))
    assert hidden.dtype == torch.bfloat16 and base.lm_logits(hidden).dtype == torch.float32


def test_switching_the_adapters_off_keeps_every_trainable_adapter_trainable():
    base = SharedBase(tiny(LlamaForCausalLM, LlamaConfig), tokenizer=None)
    base.add_lora("reward")
    base.add_lora("policy")
    base.peft.set_adapter("policy")
    for role in (None, "reward", "policy"):
        with base.use(role):
            pass
        assert all(p.requires_grad for p in base.adapter_parameters("reward") + base.adapter_parameters("policy"))


def test_a_loaded_project_model_checks_its_logits_once_per_cache(project, tmp_path, monkeypatch):
    """`open_base` (the window's and every command's load) keeps the verdict in the user cache."""
    from studio.core.project import Project
    from studio.training import shared_base

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    checked = []
    real = shared_base.check_logits
    monkeypatch.setattr(shared_base, "check_logits", lambda base: (checked.append(base), real(base)))
    opened = Project.open(project)
    for _ in range(2):
        shared_base.open_base(opened, device="cpu")
    opened.close()
    assert len(checked) == 1
    assert (tmp_path / "cache" / shared_base.LOGITS_CHECKED).is_file()
