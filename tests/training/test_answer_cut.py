"""Answers cut mid-sentence: one that reached the token limit mid-sentence ends at its last whole sentence, else is
marked cut, and `generate_comparisons` stores which; on a tiny Llama made to say a script, token by token."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from studio.core.project import Project
from studio.training.configs import SamplingConfig
from studio.training.generation import Answer, generate, generate_answers
from studio.training.runs import generate_comparisons
from studio.training.shared_base import SharedBase

END = "<|im_end|>"  # the tiny tokenizer's end of turn


class Scripted(LlamaForCausalLM):
    """The tiny Llama, made to answer `script` (one token per forward pass, the last one repeated); as it is
    while `script` is None."""

    script: list[int] | None = None

    def forward(self, input_ids=None, **kwargs):
        out = super().forward(input_ids=input_ids, **kwargs)
        if self.script is None:
            return out
        if input_ids.shape[1] > 1:  # the prompt's pass: the answer starts
            self.said = 0
        logits = torch.full_like(out.logits, -1e4)
        logits[..., self.script[min(self.said, len(self.script) - 1)]] = 0.0
        self.said += 1
        out.logits = logits
        return out


@pytest.fixture(scope="module")
def scripted(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = Scripted.from_pretrained(tiny_model_dir).eval()

    def say(text: str, end: bool = False) -> None:
        model.script = tokenizer.convert_tokens_to_ids(list(text) + [END] * end)  # one token a character
    return model, tokenizer, say


def answers(scripted, tokens: int) -> list[Answer]:
    model, tokenizer, _ = scripted
    [row] = generate_answers(model, tokenizer, ["a prompt"], SamplingConfig(max_new_tokens=tokens, do_sample=False),
                             num_return_sequences=2)
    return row


@pytest.mark.parametrize(("tokens", "answer"), [
    (9, Answer("Hi there.")),                          # the limit fell on the full stop: whole
    (12, Answer("Hi there.", trimmed=True)),           # "Hi there. Mo": back to the full stop
    (20, Answer("Hi there. More words", cut=True)),    # the full stop keeps less than half: kept whole, and cut
    (5, Answer("Hi th", cut=True))])                   # no full stop to go back to
def test_an_answer_at_the_limit_ends_at_its_last_whole_sentence_or_is_cut(scripted, tokens, answer):
    scripted[2]("Hi there. More words and more")
    assert answers(scripted, tokens) == [answer] * 2


def test_plain_generate_cuts_nothing_back(scripted):
    """Samples of a policy and round answers are what the policy said."""
    model, tokenizer, say = scripted
    say("Hi there. More words and more")
    assert generate(model, tokenizer, ["a prompt"], SamplingConfig(max_new_tokens=12, do_sample=False)) == [
        ["Hi there. Mo"]]


def test_an_answer_that_ends_its_turn_is_not_cut(scripted):
    scripted[2]("Hi", end=True)
    assert answers(scripted, 8) == [Answer("Hi")] * 2


def test_the_stored_flag_says_which_answers_were_cut(tmp_path, scripted, tiny_model_dir):
    model, tokenizer, say = scripted
    model.script = None  # the model as it is while the shared base checks its logits
    base = SharedBase(model, tokenizer)
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store
    sampling = SamplingConfig(max_new_tokens=6, do_sample=False)
    for prompt, script, end in (("first", "One two three", False), ("second", "Done", True),
                                ("third", "Yes. And then", False)):
        store.add_prompt(prompt)
        say(script, end)
        generate_comparisons(project, base, 2, sampling=sampling)
    assert [(r.text, r.cut) for r in store.responses()] == (
        [("One tw", True)] * 2 + [("Done", False)] * 2 + [("Yes.", False)] * 2)
    first, second, third = store.comparisons()
    assert store.cut_at(first.response_ids) == {rid: 6 for rid in first.response_ids}
    assert store.cut_at(second.response_ids) == store.cut_at(third.response_ids) == {}
    project.close()
