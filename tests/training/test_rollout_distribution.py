"""PPO scores its rollouts under exactly the distribution `generate_tokens` sampled them from."""
from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from studio.training import generation
from studio.training.generation import SamplingConfig, generate_tokens
from studio.training.ppo import forward
from studio.training.shared_base import SharedBase


def test_sampled_token_logprobs_equal_the_forward_logprobs_despite_the_models_own_settings(base: SharedBase,
                                                                                         monkeypatch):
    base.base.generation_config = GenerationConfig(  # a model config with settings of its own
        min_p=0.3, no_repeat_ngram_size=2, top_k=5, repetition_penalty=1.3, temperature=0.6, do_sample=True,
        eos_token_id=base.tokenizer.eos_token_id, pad_token_id=base.tokenizer.pad_token_id)
    base.add_lora("policy")
    recorded = []
    plain_distribution = generation._Sampler.distribution

    def recording(self, input_ids, scores):  # the scores a token is drawn from, after every processor before
        out = plain_distribution(self, input_ids, scores)
        recorded.append(out)
        return out

    monkeypatch.setattr(generation._Sampler, "distribution", recording)
    temperature = 0.9
    with base.use("policy") as model:
        batch = generate_tokens(model, base.tokenizer, ["hello there", "a b c d e f"],
                                SamplingConfig(max_new_tokens=24, temperature=temperature, top_p=1.0, seed=3))
        ids = torch.cat([batch.query_ids, batch.response_ids], 1)
        attention = torch.cat([batch.query_mask, torch.ones_like(batch.response_ids)], 1)
        scored, _, _ = forward(base, None, ids, attention, batch.query_ids.size(1), temperature)
    drawn_from = torch.log_softmax(torch.stack(recorded, 1).float(), -1)
    sampled = drawn_from.gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1)
    mask = batch.response_mask.bool()
    assert mask.sum() > 20
    torch.testing.assert_close(sampled[mask], scored[mask], atol=1e-4, rtol=1e-4)
    assert base.base.generation_config.min_p == 0.3  # the model's own config is back afterwards



@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (2.0, 1.0), (1.0, 0.8)])
def test_the_sampler_draws_from_the_tempered_nucleus(temperature, top_p):
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, -1.0, float("-inf")])
    rows = 200_000
    torch.manual_seed(0)
    out = generation._Sampler(temperature, top_p)(None, logits.expand(rows, -1).clone())
    assert torch.isfinite(out).sum(1).eq(1).all()  # one finite score a row: generate's greedy pick
    counts = torch.bincount(out.argmax(1), minlength=logits.numel()).double() / rows
    expected = torch.softmax(logits / temperature, -1).double()
    if top_p < 1:  # the smallest set of likeliest tokens reaching top_p: here the first two (0.62 + 0.23)
        expected[2:] = 0
        expected /= expected.sum()
    torch.testing.assert_close(counts, expected, atol=0.004, rtol=0)  # 4 standard errors at most
    assert counts[-1] == 0
