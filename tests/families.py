"""Tiny random models of each family a user brings, with the family's real chat template and special tokens.

The templates in tests/data/chat_templates are the families' published ones (tokenizer_config.json), taken from
llama.cpp's models/templates (Qwen3-0.6B, gemma-2-2b-it, Phi-3.5-mini-instruct), the embedded SmolLM2 GGUF,
copies of Meta-Llama-3-8B-Instruct's and gemma-3's configs, and open-instruct's Tulu template that OLMo 2 Instruct
prefixes with its BOS; Qwen2.5's without its tool-calling branch, Mistral's as v0.1/v0.2 Instruct publish it.
The tokenizer is byte-level, one token a byte, plus the family's special tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import pre_tokenizers

BYTE_LEVEL = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
TEMPLATES = Path(__file__).parent / "data" / "chat_templates"


@dataclass(frozen=True)
class Family:
    """A family's architecture, special tokens and how its instruct models end a turn."""

    name: str
    model_type: str
    specials: list[str]  # special tokens; bos/eos/pad among them
    bos: str | None
    eos: str
    pad: str | None
    end_of_turn: str  # what sampling must stop at
    generation_eos: list[str]  # the published generation_config's eos_token_id list
    system: bool = True  # the template takes a system prompt
    prompt_ends: str = ""  # the generation prompt's last characters
    added: list[str] = field(default_factory=list)  # non-special added tokens
    config: dict = field(default_factory=dict)


CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
FAMILIES = [
    Family("qwen2", "qwen2", CHATML, None, "<|im_end|>", "<|endoftext|>", "<|im_end|>",
           ["<|im_end|>", "<|endoftext|>"], prompt_ends="<|im_start|>assistant\n"),
    Family("qwen3", "qwen3", CHATML, None, "<|im_end|>", "<|endoftext|>", "<|im_end|>",
           ["<|im_end|>", "<|endoftext|>"], prompt_ends="<|im_start|>assistant\n<think>\n\n</think>\n\n",
           added=["<think>", "</think>"], config={"head_dim": 16}),
    Family("gemma2", "gemma2", ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>",
           "<pad>", "<end_of_turn>", ["<eos>", "<end_of_turn>"], system=False, prompt_ends="<start_of_turn>model\n",
           config={"head_dim": 16, "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0}),
    Family("gemma3", "gemma3_text", ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], "<bos>",
           "<eos>", "<pad>", "<end_of_turn>", ["<eos>", "<end_of_turn>"], prompt_ends="<start_of_turn>model\n",
           config={"head_dim": 16}),
    Family("phi3", "phi3", ["<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|end|>", "<|system|>", "<|user|>"],
           "<s>", "<|endoftext|>", "<|endoftext|>", "<|end|>", ["<|endoftext|>", "<|assistant|>", "<|end|>"],
           prompt_ends="<|assistant|>\n"),
    Family("mistral", "mistral", ["<s>", "</s>"], "<s>", "</s>", None, "</s>", ["</s>"], system=False,
           prompt_ends=" [/INST]"),
    Family("llama3", "llama", ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                               "<|eot_id|>"], "<|begin_of_text|>", "<|end_of_text|>", None, "<|eot_id|>",
           ["<|end_of_text|>", "<|eot_id|>"], prompt_ends="<|start_header_id|>assistant<|end_header_id|>\n\n"),
    Family("olmo2", "olmo2", ["<|endoftext|>", "<|pad|>"], "<|endoftext|>", "<|endoftext|>", "<|pad|>",
           "<|endoftext|>", ["<|endoftext|>"], prompt_ends="<|assistant|>\n"),
    Family("smollm2", "llama", CHATML, "<|im_start|>", "<|im_end|>", "<|im_end|>", "<|im_end|>", ["<|im_end|>"],
           prompt_ends="<|im_start|>assistant\n"),
]


def byte_token(char: str) -> str:
    """The byte-level token of one ASCII character (a space is `Ġ`, a newline `Ċ`)."""
    return BYTE_LEVEL.pre_tokenize_str(char)[0][0]


def make_family_tokenizer(family: Family):
    """A byte-level fast tokenizer (one token a byte: Qwen2's tokenizer class puts a byte-level pre-tokenizer on
    whatever it loads) with the family's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={tok: i for i, tok in enumerate(["<unk>", *alphabet])}, merges=[],
                                unk_token="<unk>"))
    core.pre_tokenizer = BYTE_LEVEL
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    tok.add_special_tokens({"additional_special_tokens": family.specials})
    tok.add_tokens(family.added)
    tok.bos_token, tok.eos_token, tok.pad_token = family.bos, family.eos, family.pad
    tok.chat_template = (TEMPLATES / f"{family.name}.jinja").read_text(encoding="utf-8")
    return tok


def make_family_dir(family: Family, path: Path, generation_eos: list[str] | None = None) -> Path:
    """Save a random 2-layer model of the family (untied LM head) and its tokenizer; the generation_config's
    eos_token_id is `generation_eos` (default: the family's published list)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    tok = make_family_tokenizer(family)
    ids = tok.convert_tokens_to_ids
    cfg = AutoConfig.for_model(
        family.model_type, vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
        initializer_range=0.1, bos_token_id=ids(family.bos) if family.bos else None, eos_token_id=ids(family.eos),
        pad_token_id=ids(family.pad or family.eos), **family.config)
    model = AutoModelForCausalLM.from_config(cfg)
    model.generation_config.eos_token_id = [ids(t) for t in generation_eos or family.generation_eos]
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
