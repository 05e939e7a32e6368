"""GGUF export: llama.cpp's converter on a merged run, read back by transformers with the same greedy answers."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from studio.cli import main
from studio.core.project import Project
from studio.training.gguf_export import (GGUFExportError, check_architecture, convert, converter_script,
                                         default_system, modelfile_text)
from studio.training.models import load_model
from studio.training.runs import export_run
from tests.tiny_model import make_tokenizer

PROMPTS = ["Name a colour.", "Say hello.", "What is 2+2?", "Name a fruit.", "Name an animal.", "Name a city.",
           "Write a haiku about rain.", "What is the capital of France?", "Give me a tip for sleeping well.",
           "Explain gravity in one sentence."]
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def render_go(template: str, values: dict[str, str]) -> str:
    """The subset of Go's text/template that the Modelfile uses: {{ if .X }}...{{ end }} and {{ .X }}."""
    text = re.sub(r"\{\{ if \.(\w+) \}\}(.*?)\{\{ end \}\}",
                  lambda m: m.group(2) if values.get(m.group(1)) else "", template, flags=re.S)
    return re.sub(r"\{\{ \.(\w+) \}\}", lambda m: values.get(m.group(1), ""), text)


def modelfile_template(text: str) -> str:
    return re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)


@pytest.mark.parametrize("chat_template", [SMOLLM2_TEMPLATE, LLAMA3_TEMPLATE])
def test_modelfile_template_renders_what_the_chat_template_renders(chat_template):
    tok = make_tokenizer()
    tok.chat_template = chat_template
    text = modelfile_text("m.gguf", chat_template, tok.eos_token, default_system(tok))
    # Ollama cuts its template at {{ .Response }} to prompt the model
    ollama = render_go(modelfile_template(text).split("{{ .Response }}")[0], {"System": "Be brief.", "Prompt": "Hi"})
    hf = tok.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                                 add_generation_prompt=True, tokenize=False)
    assert ollama == hf.removeprefix(tok.bos_token if "{{ bos_token }}" in chat_template else "")
    assert text.startswith("FROM ./m.gguf\n")
    end = "<|im_end|>" if "im_start" in chat_template else "<|eot_id|>"
    assert f'PARAMETER stop "{end}"' in text


def test_modelfile_keeps_the_default_system_message_of_the_template():
    tok = make_tokenizer()
    tok.chat_template = SMOLLM2_TEMPLATE
    text = modelfile_text("m.gguf", tok.chat_template, tok.eos_token, default_system(tok))
    system = re.search(r'SYSTEM """(.*?)"""', text).group(1)
    ollama = render_go(modelfile_template(text).split("{{ .Response }}")[0], {"System": system, "Prompt": "Hi"})
    assert ollama == tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                             tokenize=False)


def test_other_architectures_templates_and_a_missing_converter_are_refused_clearly(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(GGUFExportError, match="supports Llama / SmolLM2, Qwen2 models; this model is GPT2LMHeadModel"):
        check_architecture(tmp_path)
    with pytest.raises(GGUFExportError, match="neither ChatML nor Llama 3"):
        modelfile_text("m.gguf", "{{ messages[0]['content'] }}", "</s>", None)
    monkeypatch.setenv("STUDIO_GGUF_CONVERTER", str(tmp_path / "nowhere"))
    with pytest.raises(GGUFExportError, match="converter is not installed .* run `python scripts/fetch_gguf_converter"):
        converter_script()


def test_a_failing_converter_is_reported_in_one_line_and_leaves_no_file(tiny_model_dir, tmp_path):
    # llama.cpp knows no pre-tokenizer for the tiny model's char-level tokenizer, so its converter fails
    lines = []
    with pytest.raises(GGUFExportError) as err:
        convert(tiny_model_dir, tmp_path / "tiny.gguf", "f16", lines.append)
    message = str(err.value)
    assert "GGUF converter exited with code 1: NotImplementedError: BPE pre-tokenizer was not recognized" in message
    assert "\n" not in message and any("Loading model" in line for line in lines)
    assert list(tmp_path.iterdir()) == []


def greedy_answers(model, tokenizer, max_new_tokens: int = 16) -> list[list[int]]:
    answers = []
    for prompt in PROMPTS:
        enc = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
        answers.append(out[0, enc["input_ids"].shape[1]:].tolist())
    return answers


LLAMA_PYTHON = Path(__file__).resolve().parents[2] / "bench" / ".venv-llama" / "bin" / "python"


def llama_cpp_answers(gguf: Path, tokenizer, max_new_tokens: int = 16) -> list[list[int]]:
    """Greedy answers to PROMPTS from llama-cpp-python (its own venv), on the same prompt token ids."""
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                             return_dict=True)["input_ids"] for p in PROMPTS]
    script = Path(__file__).resolve().parents[1] / "llama_cpp_greedy.py"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(LLAMA_PYTHON), str(script), str(gguf), str(max_new_tokens)], input=json.dumps(prompts),
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def random_adapter_run(project: Project) -> int:
    """A finished run whose LoRA adapter visibly changes the model (random A and B, B scaled down)."""
    from peft import LoraConfig, get_peft_model

    loaded = load_model(project.model_spec, device="cpu")
    torch.manual_seed(0)
    peft_model = get_peft_model(loaded.model, LoraConfig(r=8, lora_alpha=16, init_lora_weights=False,
                                                         target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.2)
    run_id = project.store.create_run("sft", {"steps": 0})
    peft_model.save_pretrained(project.run_dir(run_id) / "adapter")
    project.store.update_run(run_id, status="finished", artifact=f"runs/{run_id}/adapter")
    return run_id


def forced_agreement(model, tokenizer, answers: list[list[int]]) -> float:
    """Share of answer positions where `model`'s next-token argmax, given the same prefix, is the answer's token."""
    hits = total = 0
    for prompt, answer in zip(PROMPTS, answers):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        with torch.no_grad():
            logits = model(torch.tensor([ids + answer])).logits[0, len(ids) - 1:-1]
        hits += (logits.argmax(-1) == torch.tensor(answer)).sum().item()
        total += len(answer)
    return hits / total


@pytest.mark.slow
def test_gguf_of_a_merged_smollm2_run_gives_the_merged_models_greedy_answers(tmp_path):
    torch.set_num_threads(1)
    project = Project.init(tmp_path / "proj", model="embedded")
    run_id = random_adapter_run(project)
    out = tmp_path / "out" / "smol.gguf"
    out.parent.mkdir()
    assert main(["export", str(project.root), "--run", str(run_id), "--gguf", str(out)]) == 0
    assert (out.parent / "Modelfile").read_text().startswith("FROM ./smol.gguf\n")

    merged_dir = export_run(project, str(run_id), tmp_path / "merged", merged=True)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir, local_files_only=True)
    expected = greedy_answers(merged, tokenizer)
    gguf_model = AutoModelForCausalLM.from_pretrained(out.parent, gguf_file=out.name, local_files_only=True).eval()
    gguf_tok = AutoTokenizer.from_pretrained(out.parent, gguf_file=out.name, local_files_only=True)
    assert gguf_tok.chat_template == tokenizer.chat_template
    assert greedy_answers(gguf_model, gguf_tok) == expected  # f16: the same answers, token for token
    if LLAMA_PYTHON.exists():  # llama.cpp itself gives the same answers (bench/setup_llama_venv.sh builds it, ~10 min)
        assert llama_cpp_answers(out, tokenizer) == expected

    base = load_model(project.model_spec, device="cpu").model
    assert forced_agreement(base, tokenizer, expected) < 0.95  # the adapter does change the model (0.93 measured)

    q8 = convert(merged_dir, tmp_path / "out" / "smol-q8_0.gguf", "q8_0")
    q8_model = AutoModelForCausalLM.from_pretrained(q8.parent, gguf_file=q8.name, local_files_only=True).eval()
    # q8_0: 8-bit weights may flip near-ties; measured 0.97 of next tokens agree given the same prefix
    assert forced_agreement(q8_model, tokenizer, expected) >= 0.95

