"""A model family's chat format: the generation prompt, the conversation with an answer, and the token that ends
the assistant's turn, taken from the tokenizer's own chat template.

Thinking is switched off (`enable_thinking=False`; templates that do not read it ignore it), so Qwen3's empty
`<think>` block sits in the prompt that sampling continues, not in the answer that training labels.
A conversation the template refuses (Gemma 2 and Mistral reject a system role) or renders so that the prompt's
tokens are not where the conversation's begin is refused in one line.
"""
from __future__ import annotations

from jinja2 import TemplateError
from transformers import PreTrainedTokenizerBase

MARKER = "\ue000"  # a stand-in answer (private use, not whitespace: templates trim answers)


class ChatTemplateError(ValueError):
    """The model's chat template cannot format this conversation for training or sampling."""


def messages_for(prompt: str, system: str | None = None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def render(tokenizer: PreTrainedTokenizerBase, messages: list[dict], add_generation_prompt: bool) -> str:
    """The chat template's text for `messages`, thinking off; a template's refusal as `ChatTemplateError`."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             enable_thinking=False)
    except TemplateError as e:
        if messages[0]["role"] == "system":
            raise ChatTemplateError(f"the model's chat template refuses a system prompt ({e}): remove the system "
                                    "prompts from the training data, or use a model whose template takes one") from e
        raise ChatTemplateError(f"the model's chat template refuses the conversation: {e}") from e


def chat_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None) -> str:
    """The prompt as chat-template text, ending where the assistant's answer starts."""
    return render(tokenizer, messages_for(prompt, system), add_generation_prompt=True)


def special_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Ids of the tokenizer's special tokens, added ones (`<|eot_id|>`, `<end_of_turn>`, `<|end|>`) included."""
    added = {i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special}
    return added | set(tokenizer.all_special_ids)


def end_of_turn_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The first special token the template writes after an assistant's answer (`<|im_end|>`, `<|eot_id|>`,
    `<end_of_turn>`, `<|end|>`, `</s>`); None when it writes none."""
    text = render(tokenizer, messages_for("hi") + [{"role": "assistant", "content": MARKER}], False)
    if MARKER not in text:
        return None
    tail = tokenizer(text[text.index(MARKER) + len(MARKER):], add_special_tokens=False)["input_ids"]
    specials = special_ids(tokenizer)
    return next((i for i in tail if i in specials), None)


def encode_chat(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str, system: str | None
                ) -> tuple[list[int], int]:
    """Token ids of the generation prompt, the answer and the token that ends the turn (what the template writes
    after it is left out), and where the answer starts.

    Refused (`ChatTemplateError`) when the conversation's tokens do not start with the prompt's: the answer's
    tokens would not be the ones sampling continues from the prompt. A template that ends the turn with no
    special token gets the tokenizer's end-of-sequence token, the one sampling stops at."""
    messages = messages_for(prompt, system)
    head = tokenizer(render(tokenizer, messages, True), add_special_tokens=False)["input_ids"]
    full = render(tokenizer, messages + [{"role": "assistant", "content": response}], False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if ids[:len(head)] != head:
        raise ChatTemplateError("the model's chat template renders the prompt differently once an answer follows "
                                "(its generation prompt is not a token prefix of the conversation), so the "
                                "answer's tokens cannot be told apart")
    end = end_of_turn_id(tokenizer)
    if end is not None and end in ids[len(head):]:
        return ids[:len(ids) - ids[::-1].index(end)], len(head)
    return ids + [tokenizer.eos_token_id] * (tokenizer.eos_token_id is not None), len(head)
