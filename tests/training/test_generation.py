"""Batched, token-level and streamed generation on the tiny random Llama."""
from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from studio.training.generation import (
    SamplingConfig, chat_prompt, generate, generate_tokens, mask_after_eos, stream,
)
from studio.training.models import LoadedModel, load_model

PROMPTS = ["hi", "a much longer prompt, to force left padding", "x y z"]
GREEDY = SamplingConfig(max_new_tokens=10, do_sample=False)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir) -> LoadedModel:
    return load_model(tiny_model_dir, device="cpu")


def test_chat_prompt_renders_the_template(tiny):
    text = chat_prompt(tiny.tokenizer, "Hello", system="Be brief.")
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    assert chat_prompt(tiny.tokenizer, "Hello").startswith("<|im_start|>user\nHello")


def test_every_sampling_field_has_help():
    assert all(f.metadata.get("help") for f in dataclasses.fields(SamplingConfig))


def test_generate_returns_k_answers_per_prompt(tiny):
    answers = generate(tiny.model, tiny.tokenizer, PROMPTS, SamplingConfig(max_new_tokens=6), num_return_sequences=3)
    assert [len(a) for a in answers] == [3, 3, 3]
    assert all(isinstance(text, str) for a in answers for text in a)


def test_greedy_is_deterministic_and_batching_does_not_change_it(tiny):
    batched = generate(tiny.model, tiny.tokenizer, PROMPTS, GREEDY, batch_size=8)
    one_by_one = generate(tiny.model, tiny.tokenizer, PROMPTS, GREEDY, batch_size=1)
    zero_temperature = generate(tiny.model, tiny.tokenizer, PROMPTS, SamplingConfig(max_new_tokens=10, temperature=0))
    assert batched == one_by_one == zero_temperature
    assert tiny.tokenizer.padding_side == "right"  # left padding is per call only


def test_seeded_sampling_repeats_and_leaves_global_rng_alone(tiny):
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.5, seed=7)
    state = torch.get_rng_state()
    first = generate(tiny.model, tiny.tokenizer, PROMPTS, sampling, num_return_sequences=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert generate(tiny.model, tiny.tokenizer, PROMPTS, sampling, num_return_sequences=2) == first


def test_generate_restores_train_mode_and_reports_progress(tiny):
    progress = []
    tiny.model.train()
    try:
        generate(tiny.model, tiny.tokenizer, PROMPTS, GREEDY, batch_size=2, on_progress=lambda *a: progress.append(a))
        assert tiny.model.training
    finally:
        tiny.model.eval()
    assert progress == [(2, 3), (3, 3)]


def test_generate_stops_between_batches(tiny):
    calls = []
    answers = generate(tiny.model, tiny.tokenizer, PROMPTS, GREEDY, batch_size=1,
                       on_progress=lambda *a: calls.append(a), should_stop=lambda: len(calls) >= 1)
    assert len(answers) == 1


def test_generate_works_on_a_peft_model(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    loaded = load_model(tiny_model_dir, device="cpu")
    expected = generate(loaded.model, loaded.tokenizer, PROMPTS, GREEDY)
    peft = get_peft_model(loaded.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.1))
    assert generate(peft, loaded.tokenizer, PROMPTS, GREEDY) == expected  # fresh LoRA is a no-op


def test_mask_after_eos_on_hand_made_ids():
    ids = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [2, 2, 2, 2]])
    assert mask_after_eos(ids, [2]).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert mask_after_eos(ids, [7, 2]).tolist() == [[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]]


def test_generate_tokens_masks_after_the_first_eos(tiny):
    eos, pad = tiny.tokenizer.eos_token_id, tiny.tokenizer.pad_token_id
    calls = []

    def force_eos_in_row_0(module, args, output):  # the third new token of row 0 becomes EOS
        calls.append(1)
        if len(calls) == 3:
            output.logits[0, -1] = float("-inf")
            output.logits[0, -1, eos] = 0.0
        return output

    handle = tiny.model.register_forward_hook(force_eos_in_row_0)
    try:
        batch = generate_tokens(tiny.model, tiny.tokenizer, PROMPTS[:2], GREEDY)
    finally:
        handle.remove()
    assert batch.query_ids.shape == batch.query_mask.shape
    assert batch.query_mask[:, -1].all() and not batch.query_mask[0, 0]  # left padding
    assert batch.response_ids.shape == batch.response_mask.shape == (2, GREEDY.max_new_tokens)
    assert batch.response_ids[0, 2] == eos
    assert batch.response_mask[0].tolist() == [1, 1, 1] + [0] * 7
    assert (batch.response_ids[0, 3:] == pad).all()
    assert batch.response_mask[1].all()
    assert batch.texts[0] == tiny.tokenizer.decode(batch.response_ids[0, :2]).strip()
    assert not batch.query_ids.is_inference()  # PPO runs autograd forward passes on these


@pytest.mark.parametrize("sampling", [GREEDY, SamplingConfig(max_new_tokens=20, temperature=1.0, seed=3)])
def test_stream_pieces_add_up_to_generate(tiny, sampling):
    pieces = list(stream(tiny.model, tiny.tokenizer, PROMPTS[1], sampling))
    assert "".join(pieces).strip() == generate(tiny.model, tiny.tokenizer, PROMPTS[1:2], sampling)[0][0]


def test_stream_stops_and_closes_its_thread(tiny):
    sampling = SamplingConfig(max_new_tokens=40, do_sample=False)
    stopped = list(stream(tiny.model, tiny.tokenizer, "hi", sampling, should_stop=lambda: True))
    assert len("".join(stopped)) <= 2
    threads = threading.active_count()
    pieces = stream(tiny.model, tiny.tokenizer, "hi", sampling)
    next(pieces)
    pieces.close()
    assert threading.active_count() == threads
