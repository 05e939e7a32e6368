"""bfloat16 autocast of the trunk in every engine: the products run in bf16, attention and the LM head in float32,
everything is put back afterwards, PPO's and RLOO's first ratio is 1 under it, SFT, reward and DPO learn under it
with DPO's reference in the same precision, and the automatic rule
turns it on only where it was measured to win; sampling decodes on bf16 copies of the frozen weights and puts the
float32 ones back."""
from __future__ import annotations

import math

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from studio.training import engine, ppo, precision, rloo
from studio.training.configs import SamplingConfig
from studio.training.dpo import train_dpo
from studio.training.engine import Hooks
from studio.training.ppo import train_ppo
from studio.training.reward import train_reward
from studio.training.rloo import train_rloo
from studio.training.sft import train_sft
from tests.training.helpers import marker_pairs
from tests.training.test_dpo import small_config as dpo_config
from tests.training.test_ppo import PROMPTS, add_random_sft, count_vowels, fast, recorder
from tests.training.test_reward import small_config as reward_config
from tests.training.test_rloo import fast as rloo_fast
from tests.training.test_sft import DEMOS as SFT_DEMOS
from tests.training.test_sft import fast as sft_fast


def dtypes_seen(base, module_name: str, inputs: bool) -> list[torch.dtype]:
    """Records the dtype of the input (or output) of every module called `module_name` in the decoder."""
    seen: list[torch.dtype] = []
    for name, module in base.base.named_modules():
        if name.endswith(module_name):
            if inputs:
                module.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
            else:
                module.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    return seen


def test_the_trunk_multiplies_in_bf16_and_attends_in_float32(base):
    ids = torch.tensor([[1, 5, 9, 13, 17, 21, 25, 29]])
    mask = torch.ones_like(ids)
    products = dtypes_seen(base, "mlp.down_proj", inputs=False)
    attention_out = dtypes_seen(base, "self_attn.o_proj", inputs=True)  # what attention handed on
    with torch.no_grad():
        exact = base.hidden_states(ids, mask)
        assert set(products) == set(attention_out) == {torch.float32}
        products.clear(), attention_out.clear()
        with base.bf16_trunk():
            rounded = base.hidden_states(ids, mask)
            logits = base.lm_logits(rounded)
    assert set(products) == {torch.bfloat16} and set(attention_out) == {torch.float32}
    assert logits.dtype == torch.float32
    assert not torch.equal(rounded, exact)
    torch.testing.assert_close(rounded.float(), exact, atol=0.1, rtol=0.05)
    assert base.base.config._attn_implementation == "sdpa" and not base.bf16  # put back
    products.clear()
    with torch.no_grad(), base.bf16_trunk(enabled=False):
        assert torch.equal(base.hidden_states(ids, mask), exact)
    assert set(products) == {torch.float32}


def test_float32_attention_groups_heads_itself_and_matches_transformers(base, monkeypatch):
    """With a padding mask transformers repeats the key/value heads; ours hands the grouped heads to SDPA."""
    attention = base.base.model.layers[0].self_attn
    assert attention.num_key_value_groups == 2
    torch.manual_seed(0)
    query, key, value = torch.randn(3, 4, 6, 16), torch.randn(3, 2, 6, 16), torch.randn(3, 2, 6, 16)
    mask = torch.ones(6, 6, dtype=torch.bool).tril().expand(3, 1, 6, 6).clone()
    mask[1, ..., :2] = False  # a left-padded row
    mask[1, ..., :2, :2] = torch.eye(2, dtype=torch.bool)
    grouped = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: grouped.append(k.get("enable_gqa")) or sdpa(*a, **k))
    ours, _ = precision._float32_sdpa(attention, query, key, value, mask, dropout=0.0, scaling=0.3)
    assert grouped == [True]
    theirs, _ = sdpa_attention_forward(attention, query, key, value, mask, dropout=0.0, scaling=0.3)
    assert ours.shape == theirs.shape == (3, 6, 4, 16)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_decoding_on_bf16_weights_puts_every_weight_back(base):
    from studio.training.generation import _generation_config

    base.add_lora("policy", r=4, alpha=8)
    head = base.base.get_output_embeddings()
    before = {name: (p, p.data_ptr(), p.detach().clone()) for name, p in base.peft.named_parameters()}
    tied = head.weight is base.base.get_input_embeddings().weight
    ids = torch.tensor([[1, 5, 9, 13, 17, 21, 25, 29]])
    mask = torch.ones_like(ids)
    products = dtypes_seen(base, "mlp.down_proj", inputs=False)
    with base.use("policy") as model, torch.no_grad():
        config, _ = _generation_config(model, base.tokenizer, SamplingConfig(max_new_tokens=6))
        config.output_logits = config.return_dict_in_generate = True
        with base.bf16_decoding():
            weights = {n: p.dtype for n, p in base.peft.named_parameters()}
            head_dtype = base.base.get_output_embeddings().weight.dtype
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            with pytest.raises(RuntimeError), base.bf16_decoding():  # a failure inside puts the weights back
                raise RuntimeError
        assert torch.bfloat16 in products
        assert torch.equal(out.logits[0], out.logits[0].bfloat16().float())  # the bf16 head made them
        linear = {n for n in weights if n.endswith("proj.base_layer.weight")}
        assert linear and {weights[n] for n in linear} == {torch.bfloat16}
        assert {weights[n] for n in weights if "lora_" in n} == {torch.float32}
        assert weights["base_model.model.model.embed_tokens.weight"] == torch.float32
        assert head_dtype == torch.bfloat16  # a copy: a tied head's weight is the float32 embedding
        # what was sampled from is the bf16 scoring passes' distribution, within bf16's rounding
        full = torch.cat([ids, out.sequences[:, ids.size(1):]], 1)
        with base.bf16_trunk():
            hidden = base.hidden_states(full[:, :-1], torch.ones_like(full[:, :-1]))[:, ids.size(1) - 1:]
            scored = base.lm_logits(hidden).log_softmax(-1)
    sampled = torch.stack(out.logits, 1).float().log_softmax(-1)
    torch.testing.assert_close(sampled, scored, atol=0.05, rtol=0)
    assert base.base.get_output_embeddings() is head and not base.bf16
    assert (head.weight is base.base.get_input_embeddings().weight) == tied
    for name, p in base.peft.named_parameters():
        param, storage, value = before[name]
        assert p is param and p.data_ptr() == storage and p.dtype == value.dtype and torch.equal(p, value), name
    assert all(p.requires_grad for p in base.adapter_parameters("policy"))


def first_log_ratios(monkeypatch, module, name: str) -> list[float]:
    """The largest |new - old| log-prob of every call to `module.name` (a policy loss taking new, old, ..., mask)."""
    seen: list[float] = []
    real = getattr(module, name)

    def recording(new, old, advantages, mask, *rest, **kw):
        seen.append(((new - old) * mask).abs().max().item())
        return real(new, old, advantages, mask, *rest, **kw)

    monkeypatch.setattr(module, name, recording)
    return seen


def test_ppo_under_bf16_starts_each_round_at_ratio_one(tiny_model_dir, tmp_path, monkeypatch):
    from tests.training.helpers import tiny_base

    log_ratios = first_log_ratios(monkeypatch, ppo, "policy_loss")
    base = tiny_base(tiny_model_dir)
    torch.manual_seed(0)
    add_random_sft(base)
    passes = dtypes_seen(base, "mlp.down_proj", inputs=False)
    hooks, metrics, _, _ = recorder()
    config = fast(iterations=2, ppo_epochs=2, minibatches=1, bf16_autocast=True)
    assert train_ppo(base, PROMPTS, count_vowels, config, tmp_path / "run", hooks).status == "finished"
    assert torch.bfloat16 in passes  # the passes did run in bf16
    assert log_ratios[0] < 1e-6 and log_ratios[2] < 1e-6  # each round's first update: old = new exactly
    assert max(log_ratios) > 1e-3
    assert all(torch.isfinite(torch.tensor(list(m.values()))).all() for _, m in metrics)


def test_rloo_under_bf16_starts_each_round_at_ratio_one(tiny_model_dir, tmp_path, monkeypatch):
    from tests.training.helpers import tiny_base

    log_ratios = first_log_ratios(monkeypatch, rloo, "sequence_policy_loss")
    base = tiny_base(tiny_model_dir)
    passes = dtypes_seen(base, "mlp.down_proj", inputs=False)
    config = rloo_fast(iterations=1, epochs=2, bf16_autocast=True)
    assert train_rloo(base, PROMPTS, count_vowels, config, tmp_path / "run", init_adapter=None).status == "finished"
    assert torch.bfloat16 in passes
    assert log_ratios[0] == 0.0  # epoch 1 is its own old policy
    assert max(log_ratios) > 1e-4


def test_supervised_engines_train_under_bf16(tiny_model_dir, tmp_path):
    """SFT, the reward model and DPO run every pass of their steps in bf16 when asked, and learn; DPO scores its
    reference in the same precision, so its first loss is log 2 as in float32 (policy = reference)."""
    from tests.training.helpers import tiny_base

    base = tiny_base(tiny_model_dir)
    passes = dtypes_seen(base, "mlp.down_proj", inputs=False)
    seen: dict[str, list[dict]] = {"sft": [], "reward": [], "dpo": []}

    def hooks(kind: str) -> Hooks:  # the passes up to each step, so scoring after training does not count
        return Hooks(on_metrics=lambda step, m: seen[kind].append({**m, "passes": set(passes)}))

    train_sft(base, SFT_DEMOS, sft_fast(steps=30, bf16_autocast=True), tmp_path / "sft", hooks("sft"))
    passes.clear()
    train_reward(base, marker_pairs(24), reward_config(steps=12, lr=1e-3, bf16_autocast=True), tmp_path / "reward",
                 hooks("reward"))
    passes.clear()
    train_dpo(base, marker_pairs(8), dpo_config(steps=4, lr=1e-3, bf16_autocast=True), tmp_path / "dpo",
              hooks("dpo"), init_adapter="sft")
    for kind, metrics in seen.items():
        assert metrics[-1]["passes"] == {torch.bfloat16}, kind
        assert metrics[-1]["loss"] < metrics[0]["loss"], kind
    assert seen["sft"][-1]["loss"] < 0.5 * seen["sft"][0]["loss"]
    assert seen["dpo"][0]["loss"] == pytest.approx(math.log(2), abs=1e-5)


@pytest.mark.parametrize("device, dtype, hidden, native, expected", [
    ("cpu", torch.float32, 576, True, True),     # SmolLM2-135M on this CPU: measured 1.5x per update step
    ("cpu", torch.float32, 576, False, False),   # no native bf16: emulated products are slower
    ("cpu", torch.float32, 64, True, False),     # tiny matrices: the casts outweigh the products
    ("cpu", torch.bfloat16, 576, True, False),   # already bf16
    ("cuda", torch.float32, 576, True, False),   # GPUs pick their dtype at load
])
def test_the_automatic_rule(monkeypatch, device, dtype, hidden, native, expected):
    class Base:
        def __init__(self):
            self.device, self.hidden_size = torch.device(device), hidden
            self.base = torch.nn.Linear(1, 1).to(dtype)

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.wants_bf16(None, Base()) is expected
    assert precision.wants_bf16(True, Base()) is True and precision.wants_bf16(False, Base()) is False


def frozen_linear(base) -> dict[str, torch.Tensor]:
    return {n: p for n, p in base.peft.named_parameters() if n.endswith("proj.base_layer.weight")}


def test_bf16_weights_hold_the_frozen_linears_in_bf16_and_put_back_every_bit(base, monkeypatch):
    base.add_lora("policy", r=4, alpha=8)
    torch.manual_seed(0)
    for p in frozen_linear(base).values():  # values that bf16 would round, so a lossy restore shows
        p.data += 1e-4 * torch.randn_like(p)
    before = {name: (p, p.detach().clone()) for name, p in base.peft.named_parameters()}
    ids = torch.tensor([[1, 5, 9, 13, 17, 21, 25, 29]])
    with torch.no_grad(), base.use("policy"), base.bf16_trunk():
        autocast_only = base.lm_logits(base.hidden_states(ids, torch.ones_like(ids)))
        with base.bf16_weights():
            dtypes = {n: p.dtype for n, p in base.peft.named_parameters()}
            stored = base.lm_logits(base.hidden_states(ids, torch.ones_like(ids)))
        with pytest.raises(RuntimeError), base.bf16_weights():  # a failure inside puts the weights back
            raise RuntimeError
    linear = frozen_linear(base)
    assert linear and {dtypes[n] for n in linear} == {torch.bfloat16}
    assert {dtypes[n] for n in dtypes if n not in linear} == {torch.float32}  # LoRA, embeddings, norms, head
    assert torch.equal(stored, autocast_only)  # autocast casts to the same bf16 values: nothing changes but memory
    for name, p in base.peft.named_parameters():
        param, value = before[name]
        assert p is param and p.dtype == value.dtype and torch.equal(p, value), name

    def no_room():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(precision.tempfile, "TemporaryFile", no_room)
    with base.bf16_weights():  # nowhere to put the float32 weights: they stay, the block still runs
        assert {p.dtype for p in frozen_linear(base).values()} == {torch.float32}


@pytest.mark.parametrize("bf16", [True, False])
def test_online_engines_train_on_bf16_weights_only_under_bf16(tiny_model_dir, tmp_path, bf16):
    from studio.training.grpo import train_grpo
    from tests.training.helpers import tiny_base
    from tests.training.test_grpo import fast as grpo_fast

    base = tiny_base(tiny_model_dir)
    torch.manual_seed(0)
    add_random_sft(base)
    before = {n: p.detach().clone() for n, p in base.base.named_parameters()}
    seen: list[torch.dtype] = []

    def scoring(prompts, responses):
        seen.append(next(iter(frozen_linear(base).values())).dtype)
        return count_vowels(prompts, responses)

    assert train_ppo(base, PROMPTS, scoring, fast(iterations=1, bf16_autocast=bf16), tmp_path / "ppo").status \
        == "finished"
    assert train_grpo(base, PROMPTS, scoring, grpo_fast(iterations=1, bf16_autocast=bf16), tmp_path / "grpo") \
        .status == "finished"
    assert seen == [torch.bfloat16 if bf16 else torch.float32] * 2
    for name, p in base.base.named_parameters():
        if name in before:  # the base's own weights, bit for bit, after both runs
            assert torch.equal(p, before[name]), name
