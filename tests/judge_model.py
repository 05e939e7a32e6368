"""A tiny judge that reaches real verdicts: the tiny random Llama with its LM head untied and its rows for the
letters "A" and "B" solved (least squares on the head's input) so that, on the very judge prompts the tests show
it, the letter of the answer that says "banana" more often gets the higher logit, in both orders. For two answers
that say it as often it says "A" whichever comes first: a position bias the judge must abstain on. Nothing else in
the model changes."""
from __future__ import annotations

from pathlib import Path

PRINCIPLE = "prefer the answer that mentions bananas most"
# (question, answers) the tests show the judge; in the same order, the order the judge settles on (None: abstains)
CASES = [("say a fruit", ("a banana", "a lemon")), ("say a fruit", ("no fruit", "banana bread")),
         ("say a fruit", ("kiwi", "plum")), ("name a snack", ("toast", "banana split", "banana banana cake"))]
RANKED = [[[0], [1]], [[1], [0]], None, [[2], [1], [0]]]


def judge_examples() -> list[tuple[str, str, str, str]]:
    """(question, answer A, answer B, the letter the judge should give) for every ordered pair of every case."""
    out = []
    for question, answers in CASES:
        for a in answers:
            for b in answers:
                if a != b:
                    letter = "B" if b.count("banana") > a.count("banana") else "A"
                    out.append((question, a, b, letter))
    return out


def make_judge_model_dir(path: Path) -> Path:
    """Save the tiny random model (safetensors) with its tokenizer and the letter rows set for `judge_examples`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.training.generation import chat_prompt
    from studio.training.judge import JUDGE_PROMPT
    from tests.tiny_model import make_tiny_model_dir

    make_tiny_model_dir(path)
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.get_input_embeddings().weight.detach().clone())
    examples, inputs = judge_examples(), []
    hook = model.lm_head.register_forward_hook(lambda module, args, out: inputs.append(args[0][0, -1]))
    with torch.no_grad():
        for question, a, b, _ in examples:
            text = chat_prompt(tok, JUDGE_PROMPT.format(principle=PRINCIPLE, prompt=question, a=a, b=b))
            model(**tok(text, return_tensors="pt", add_special_tokens=False))
        hook.remove()
        sign = torch.tensor([1.0 if letter == "A" else -1.0 for *_, letter in examples])
        for letter, side in (("A", 1.0), ("B", -1.0)):  # logit 10 +- 4: far above every other token's
            row = torch.linalg.lstsq(torch.stack(inputs), (10 + 4 * side * sign).unsqueeze(1)).solution[:, 0]
            model.lm_head.weight[tok.convert_tokens_to_ids(letter)] = row
    model.save_pretrained(path)
    return path
