"""PPO scores its rollouts under exactly the distribution `generate_tokens` sampled them from."""
from __future__ import annotations

import torch
from transformers import GenerationConfig

from studio.training.generation import SamplingConfig, generate_tokens
from studio.training.ppo import forward
from studio.training.shared_base import SharedBase


def test_sampled_token_logprobs_equal_the_forward_logprobs_despite_the_models_own_settings(base: SharedBase):
    base.base.generation_config = GenerationConfig(  # a model config with settings of its own
        min_p=0.3, no_repeat_ngram_size=2, top_k=5, repetition_penalty=1.3, temperature=0.6, do_sample=True,
        eos_token_id=base.tokenizer.eos_token_id, pad_token_id=base.tokenizer.pad_token_id)
    base.add_lora("policy")
    recorded = []
    plain_generate = base.base.generate

    def generate_recording_scores(*args, **kwargs):  # the scores generate sampled from, after its processors
        out = plain_generate(*args, **kwargs, output_scores=True, return_dict_in_generate=True)
        recorded.append(torch.stack(out.scores, 1))
        return out.sequences

    base.base.generate = generate_recording_scores
    temperature = 0.9
    with base.use("policy") as model:
        batch = generate_tokens(model, base.tokenizer, ["hello there", "a b c d e f"],
                                SamplingConfig(max_new_tokens=24, temperature=temperature, top_p=1.0, seed=3))
        ids = torch.cat([batch.query_ids, batch.response_ids], 1)
        attention = torch.cat([batch.query_mask, torch.ones_like(batch.response_ids)], 1)
        scored, _, _ = forward(base, None, ids, attention, batch.query_ids.size(1), temperature)
    sampled = torch.log_softmax(recorded[0].float(), -1).gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1)
    mask = batch.response_mask.bool()
    assert mask.sum() > 20
    torch.testing.assert_close(sampled[mask], scored[mask], atol=1e-4, rtol=1e-4)
    assert base.base.generation_config.min_p == 0.3  # the model's own config is back afterwards

