"""Every model family a user brings, on its own chat template and special tokens (tests/families.py): the prompt
is a token prefix of the conversation, labels cover exactly the answer and its end-of-turn token, sampling stops
at the end of turn, and the studio's log-probs are the model's own."""
from __future__ import annotations

import json

import pytest
import torch

from studio.training.batches import encode_example, encode_pairs, pad_batch
from studio.training.chat_format import ChatTemplateError, chat_prompt, encode_chat
from studio.training.configs import SamplingConfig
from studio.training.generation import eos_ids, generate, generate_tokens
from studio.training.kto import mismatched
from studio.training.models import load_model
from studio.training.response_logprobs import response_logprobs
from studio.training.shared_base import SharedBase
from tests.families import FAMILIES, Family, byte_token, make_family_dir, make_family_tokenizer

PROMPT, ANSWER, OTHER, SYSTEM = "Name a colour.", "Blue, like the sky.", "Red.", "Be brief."
GREEDY = SamplingConfig(max_new_tokens=6, do_sample=False, seed=0)


def answer_ids(tok, text: str, family: Family) -> list[int]:
    """By hand: one token per character (the tokenizer is byte-level), then the family's end of turn."""
    return [tok.convert_tokens_to_ids(byte_token(c)) for c in text] + [tok.convert_tokens_to_ids(family.end_of_turn)]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_family_chat_format_labels_sampling_and_logprobs(family: Family, tmp_path):
    torch.set_num_threads(1)
    # The generation_config lists the tokenizer's EOS only, as a GGUF conversion leaves it: the end of turn
    # must come from the chat template.
    loaded = load_model(make_family_dir(family, tmp_path / family.name, [family.eos]), device="cpu")
    tok, model = loaded.tokenizer, loaded.model
    end = tok.convert_tokens_to_ids(family.end_of_turn)

    head = chat_prompt(tok, PROMPT)
    assert head.endswith(family.prompt_ends)
    ids, start = encode_example(tok, PROMPT, ANSWER, None, 512)
    assert ids[:start] == tok(head, add_special_tokens=False)["input_ids"]
    assert ids[start:] == answer_ids(tok, ANSWER, family)
    labels = pad_batch([(ids, start), encode_example(tok, PROMPT, OTHER, None, 512)], tok.pad_token_id, "cpu")[2]
    assert labels[0][labels[0] != -100].tolist() == answer_ids(tok, ANSWER, family)
    assert labels[1][labels[1] != -100].tolist() == answer_ids(tok, OTHER, family)
    pair = encode_pairs(tok, [{"prompt": PROMPT, "chosen": ANSWER, "rejected": OTHER}], 512)[0]
    rated = mismatched(tok, [{"prompt": PROMPT, "completion": ANSWER}, {"prompt": "x", "completion": OTHER}],
                       [0, 1], 512)  # each prompt with the other's completion: KTO's reference-point pairs
    for (seq, at), text in zip([*pair, *rated], [ANSWER, OTHER, OTHER, ANSWER]):
        assert seq[at:] == answer_ids(tok, text, family)
    if family.system:
        with_system, at = encode_example(tok, PROMPT, ANSWER, SYSTEM, 512)
        assert with_system[at:] == answer_ids(tok, ANSWER, family)
    else:
        with pytest.raises(ChatTemplateError, match="refuses a system prompt"):
            encode_example(tok, PROMPT, ANSWER, SYSTEM, 512)

    base = SharedBase.from_loaded(loaded)
    batch = pad_batch([(ids, start)], tok.pad_token_id, "cpu")
    ours = response_logprobs(base, *batch)[0]
    with torch.no_grad():
        own = torch.log_softmax(model(torch.tensor([ids])).logits.float(), -1)[0, start - 1:-1]
    torch.testing.assert_close(ours, own.gather(1, torch.tensor(ids[start:])[:, None])[:, 0], rtol=0, atol=1e-5)

    first = generate_tokens(model, tok, [PROMPT], GREEDY).response_ids[0, 0].item()
    head_weight = model.get_output_embeddings().weight.data
    head_weight[[first, end]] = head_weight[[end, first]]  # greedy's first answer token becomes the end of turn
    rollout = generate_tokens(model, tok, [PROMPT], GREEDY)
    assert rollout.response_ids.tolist() == [[end]] and rollout.response_mask.tolist() == [[1]]
    assert generate(model, tok, [PROMPT], GREEDY) == [[""]]
    assert set(eos_ids(model, tok)) == {tok.convert_tokens_to_ids(t) for t in {family.eos, family.end_of_turn}}
    model.generation_config.eos_token_id = published = tok.convert_tokens_to_ids(family.generation_eos)
    assert set(eos_ids(model, tok)) == {*published, end}  # a published list is kept whole


def test_a_prompt_that_is_not_a_token_prefix_is_refused():
    tok = make_family_tokenizer(FAMILIES[0])
    tok.chat_template = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
                         "{% if add_generation_prompt %}{{ 'assistant says:' }}{% endif %}")
    with pytest.raises(ChatTemplateError, match="not a token prefix"):
        encode_chat(tok, PROMPT, ANSWER, None)


def test_a_template_that_rejects_the_demos_system_prompt_is_refused_in_one_line(tmp_path, capsys):
    from studio.cli import main

    model = make_family_dir(next(f for f in FAMILIES if f.name == "gemma2"), tmp_path / "gemma2")
    proj, demos = tmp_path / "p", tmp_path / "demos.jsonl"
    demos.write_text(json.dumps({"prompt": PROMPT, "completion": ANSWER, "system": SYSTEM}) + "\n")
    assert main(["init", str(proj), "--model", str(model)]) == 0
    assert main(["demos", "import", str(proj), str(demos)]) == 0
    capsys.readouterr()
    assert main(["train", "sft", str(proj), "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: the model's chat template refuses a system prompt (System role not supported): remove the system "
        "prompts from the training data, or use a model whose template takes one"]
    assert "Traceback" not in err
    main(["status", str(proj), "--json"])
    status = json.loads(capsys.readouterr().out)
    assert [(run["status"], run["step"]) for run in status["runs"]] == [("failed", 0)]
    assert status["demonstrations"] == 1
