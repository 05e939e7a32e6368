"""A run as a GGUF file for llama.cpp, Ollama and LM Studio: merge, convert with llama.cpp's own converter,
and write an Ollama `Modelfile` beside it.

The converter is llama.cpp's `convert_hf_to_gguf.py` (with its `conversion/` and `gguf-py/`), unpacked at
install time from the pinned llama-cpp-python source distribution by `scripts/fetch_gguf_converter.py`;
it runs here as a subprocess with an argument list, its output streamed to `progress`. Only the chat
template to Ollama template mapping is written by hand: no maintained library translates Jinja to Go
templates, so the two template families the supported architectures use (ChatML, Llama 3) are mapped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from studio.core.atomic import atomic_path, atomic_writer

CONVERTER_VERSION = "0.3.36"  # llama-cpp-python sdist that carries the converter
CONVERTER_ENV = "STUDIO_GGUF_CONVERTER"
SUPPORTED_ARCHITECTURES = {"LlamaForCausalLM": "Llama / SmolLM2", "Qwen2ForCausalLM": "Qwen2"}
TYPES = ("f16", "q8_0")
MODELFILE = "Modelfile"  # written beside the GGUF

Progress = Callable[[str], None]

CHATML = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"
)
LLAMA3 = (
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
    "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>"
)
# (marker in the chat template, Ollama template, the turn's end token, how a system turn opens and closes)
TEMPLATES = [
    ("<|im_start|>", CHATML, "<|im_end|>", ("<|im_start|>system\n", "<|im_end|>")),
    ("<|start_header_id|>", LLAMA3, "<|eot_id|>", ("<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>")),
]


class GGUFExportError(RuntimeError):
    """The model cannot be written as GGUF; the message says why in one line."""


def converter_dir() -> Path:
    """Where the unpacked converter lives: `$STUDIO_GGUF_CONVERTER`, else inside this Python's prefix."""
    override = os.environ.get(CONVERTER_ENV)
    if override:
        return Path(override)
    return Path(sys.prefix) / "share" / "alignment-studio" / f"llama.cpp-convert-{CONVERTER_VERSION}"


def converter_script() -> Path:
    script = converter_dir() / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise GGUFExportError(f"llama.cpp's GGUF converter is not installed at {script.parent}: run "
                              "`python scripts/fetch_gguf_converter.py` (scripts/bootstrap.sh does it)")
    return script


def check_architecture(model_dir: Path) -> str:
    """The model's architecture if the export supports it; otherwise a clear refusal."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    archs = config.get("architectures") or [config.get("model_type", "unknown")]
    if archs[0] not in SUPPORTED_ARCHITECTURES:
        names = ", ".join(SUPPORTED_ARCHITECTURES.values())
        raise GGUFExportError(f"GGUF export supports {names} models; this model is {archs[0]}")
    return archs[0]


def convert(model_dir: Path, out: Path, qtype: str = "f16", progress: Progress | None = None) -> Path:
    """Run llama.cpp's converter on a Hugging Face folder; the file appears at `out` only when it succeeded."""
    if qtype not in TYPES:
        raise ValueError(f"GGUF type must be one of {', '.join(TYPES)}, got {qtype!r}")
    check_architecture(model_dir)
    say = progress or (lambda _line: None)
    with atomic_path(out) as partial:
        _run_converter(model_dir, partial, qtype, say)
    return Path(out)


def _run_converter(model_dir: Path, partial: Path, qtype: str, say: Progress) -> None:
    """llama.cpp's converter writing `partial`, its lines passed to `say`; GGUFExportError when it fails."""
    args = [sys.executable, str(converter_script()), str(model_dir), "--outfile", str(partial), "--outtype", qtype]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    last_error = ""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          errors="replace") as proc:
        for raw in proc.stdout:
            for line in raw.replace("\r", "\n").splitlines():  # tqdm redraws with \r
                if line.strip():
                    say(line.strip())
                    if "Error" in line or "error" in line.split(":", 1)[0].lower():
                        last_error = line.strip()
    if proc.returncode != 0:
        raise GGUFExportError(f"GGUF converter exited with code {proc.returncode}: {last_error or 'no error line'}")


def modelfile_text(gguf_name: str, chat_template: str, eos_token: str | None, system: str | None) -> str:
    """An Ollama Modelfile: FROM the GGUF beside it, TEMPLATE and stop tokens mapped from the chat template."""
    for marker, template, end, _system in TEMPLATES:
        if marker in (chat_template or ""):
            break
    else:
        raise GGUFExportError("the chat template is neither ChatML nor Llama 3; no Ollama template is known for it")
    stops = [end] + [eos_token] * bool(eos_token and eos_token != end)
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n"


def default_system(tokenizer) -> str | None:
    """The system message the chat template adds on its own when a conversation has none (SmolLM2 does)."""
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "\x00"}], tokenize=False)
    for marker, _template, _end, (opens, closes) in TEMPLATES:
        if marker in rendered and opens in rendered.split("\x00")[0]:
            return rendered.split(opens, 1)[1].split(closes, 1)[0]
    return None


def export_gguf(project, run_ref: str, out: Path, qtype: str = "f16", progress: Progress | None = None,
                force: bool = False) -> Path:
    """Merge run `run_ref` into the base, write it as GGUF at `out` and an Ollama `Modelfile` beside it
    (`force`: replace existing files there)."""
    from transformers import AutoTokenizer

    from studio.training.runs import export_run

    if qtype not in TYPES:
        raise ValueError(f"GGUF type must be one of {', '.join(TYPES)}, got {qtype!r}")
    out = project.check_output(out, force=force)
    if out.suffix != ".gguf":
        raise ValueError(f"the GGUF file name must end in .gguf, got {out.name}")
    project.check_output(out.parent / MODELFILE, force=force)
    say = progress or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="studio-gguf-") as tmp:
        say("Merging the adapter into the base model…")
        merged = export_run(project, run_ref, Path(tmp) / "merged", merged=True)
        check_architecture(merged)
        tokenizer = AutoTokenizer.from_pretrained(merged, local_files_only=True)
        text = modelfile_text(out.name, tokenizer.chat_template, tokenizer.eos_token, default_system(tokenizer))
        say("Converting to GGUF with llama.cpp's converter…")
        convert(merged, out, qtype, say)
    with atomic_writer(out.parent / MODELFILE) as f:
        f.write(text)
    return out
