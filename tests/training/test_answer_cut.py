"""Answers cut mid-sentence: the margin lets an answer end its sentence, `Answer.cut` says which still stop
mid-sentence, and `generate_comparisons` stores it; on a tiny Llama made to say a script, token by token."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from studio.core.project import Project
from studio.training.configs import SamplingConfig
from studio.training.generation import Answer, generate_answers
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


def answers(scripted, tokens: int, margin: int) -> list[Answer]:
    model, tokenizer, _ = scripted
    sampling = SamplingConfig(max_new_tokens=tokens, finish_margin=margin, do_sample=False)
    [row] = generate_answers(model, tokenizer, ["a prompt"], sampling, num_return_sequences=2)
    return row


@pytest.mark.parametrize(("tokens", "margin", "text", "cut"), [
    (5, 10, "Hi there.", False),  # past the limit to the full stop, and no further
    (5, 2, "Hi ther", True),      # the margin ran out mid-sentence
    (5, 0, "Hi th", True),        # no margin: stopped at the limit
    (9, 0, "Hi there.", False),   # the limit fell on the full stop
    (12, 10, "Hi there. More words a", True)])  # past a full stop at the limit: the next one is out of reach
def test_the_margin_ends_the_sentence_and_no_more(scripted, tokens, margin, text, cut):
    scripted[2]("Hi there. More words and more")
    assert answers(scripted, tokens, margin) == [Answer(text, cut)] * 2


def test_an_answer_that_ends_its_turn_is_not_cut(scripted):
    scripted[2]("Hi", end=True)
    assert answers(scripted, 8, 0) == [Answer("Hi", False)] * 2


def test_the_stored_flag_says_which_answers_were_cut(tmp_path, scripted, tiny_model_dir):
    model, tokenizer, say = scripted
    model.script = None  # the model as it is while the shared base checks its logits
    base = SharedBase(model, tokenizer)
    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    store = project.store
    sampling = SamplingConfig(max_new_tokens=4, do_sample=False, finish_margin=2)
    store.add_prompt("first")
    say("One two three")
    generate_comparisons(project, base, 2, sampling=sampling)
    store.add_prompt("second")
    say("Done", end=True)
    generate_comparisons(project, base, 2, sampling=sampling)
    assert [(r.text, r.cut) for r in store.responses()] == [("One tw", True)] * 2 + [("Done", False)] * 2
    assert store.responses()[0].settings["finish_margin"] == 2
    [first, second] = store.comparisons()
    assert store.cut_at(first.response_ids) == {rid: 6 for rid in first.response_ids}
    assert store.cut_at(second.response_ids) == {}
    project.close()
