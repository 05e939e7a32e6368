"""PPO scores its rollouts under exactly the distribution `generate_tokens` sampled them from."""
from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig, TopPLogitsWarper

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


def test_the_nucleus_is_the_one_transformers_keeps_also_where_it_reaches_past_the_first_top_k():
    """`_TopP` looks among the top 256 scores first, then 16 times as many: rows from peaked (a nucleus of a few
    tokens) to flat (tens of thousands) keep exactly the tokens `TopPLogitsWarper`'s full sort keeps."""
    torch.manual_seed(0)
    scores = torch.cat([torch.randn(4, 49152) * scale for scale in (10.0, 3.0, 1.0)])
    for top_p in (0.5, 0.95):
        ours = generation._TopP(top_p)(None, scores.clone())
        theirs = TopPLogitsWarper(top_p)(None, scores.clone())
        assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
        torch.testing.assert_close(ours[torch.isfinite(ours)], scores[torch.isfinite(ours)])
    kept = torch.isfinite(generation._TopP(0.95)(None, scores)).sum(1)
    assert kept.min() < 256 and (kept > 256).any() and kept.max() > 4096  # each of the three rounds is needed


def test_tokens_tied_with_the_last_one_in_the_nucleus_are_all_kept():
    scores = torch.log(torch.tensor([[0.4, 0.2, 0.2, 0.2]]))  # the nucleus ends among the three tied tokens
    assert torch.isfinite(generation._TopP(0.7)(None, scores)).all()  # 0.4 + 0.2 < 0.7: a tie is kept
    assert torch.isfinite(generation._TopP(0.3)(None, scores)).tolist() == [[True, False, False, False]]
