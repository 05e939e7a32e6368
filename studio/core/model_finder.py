"""Find local models where users keep them: the Hugging Face cache, LM Studio's and Ollama's folders, and the
models of recent projects; with name, architecture, parameters, size on disk, and whether the studio can
train each (and fits it in memory), or why not.

The HF cache is read through `huggingface_hub.scan_cache_dir`, GGUF headers through `gguf.GGUFReader` and
safetensors headers through `safetensors.safe_open` (numpy, no weights read). Only the Ollama manifest
walk is by hand: Ollama publishes no Python reader for its store (manifests name the GGUF blob by digest).
No torch or transformers here: the caller passes which model types and GGUF architectures transformers knows.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from studio.core.project import META_NAME

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
# LoRA training on the CPU holds fp32 weights (4 B/param) plus activations and the runtime itself. A fixed
# 1 GiB plus 12 B/param gives 2.6 GB for SmolLM2-135M, whose PPO peak RSS is 2.7 GB in bench/RESULTS.md.
TRAIN_OVERHEAD_BYTES = 2**30
TRAIN_BYTES_PER_PARAM = 12


@dataclass
class FoundModel:
    """One model on disk; `reason` says why the studio cannot train it (None = it can)."""

    name: str
    path: Path
    source: str  # "hf-cache", "lm-studio", "ollama", "recent"
    architecture: str
    params: int | None
    size_bytes: int
    reason: str | None = None

    def training_bytes(self) -> int | None:
        return TRAIN_OVERHEAD_BYTES + self.params * TRAIN_BYTES_PER_PARAM if self.params else None

    def fits(self, memory_bytes: int) -> bool | None:
        need = self.training_bytes()
        return None if need is None else need <= memory_bytes

    def summary(self, memory_bytes: int) -> dict:
        """The facts as JSON-able values, with the training verdict in words."""
        need = self.training_bytes()
        if self.reason:
            verdict = f"cannot train: {self.reason}"
        elif need is None:
            verdict = "trainable (size unknown)"
        else:
            verdict = (f"trainable, needs ~{need / 2**30:.1f} GB of {memory_bytes / 2**30:.0f} GB"
                       + ("" if self.fits(memory_bytes) else ": too big for this machine"))
        return {"name": self.name, "source": self.source, "architecture": self.architecture, "params": self.params,
                "size_bytes": self.size_bytes, "path": str(self.path), "trainable": self.reason is None,
                "fits": self.fits(memory_bytes), "verdict": verdict}


def default_places() -> dict[str, Path]:
    """Where the HF cache, LM Studio and Ollama keep models on this machine (their own env overrides first)."""
    home = Path.home()
    hf = os.environ.get("HF_HUB_CACHE") or (Path(os.environ.get("HF_HOME", home / ".cache" / "huggingface")) / "hub")
    return {"hf-cache": Path(hf), "lm-studio": home / ".lmstudio" / "models",
            "lm-studio-legacy": home / ".cache" / "lm-studio" / "models",
            "ollama": Path(os.environ.get("OLLAMA_MODELS") or home / ".ollama" / "models")}


def machine_memory() -> int:
    """Physical memory in bytes (0 where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def hf_folder_model(folder: Path, source: str, model_types: set[str], name: str | None = None,
                    size: int | None = None) -> FoundModel:
    """Describe a Hugging Face model folder (config.json + weights)."""
    folder = Path(folder)
    name = name or folder.name
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return FoundModel(name, folder, source, "?", None, size or _tree_size(folder), "no readable config.json")
    arch = (config.get("architectures") or [config.get("model_type", "?")])[0]
    safetensors = sorted(folder.glob("*.safetensors"))
    pickles = [p for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")]
    reason = None
    if "auto_map" in config:
        reason = "needs remote code (auto_map), which the studio never runs"
    elif config.get("model_type") not in model_types:
        reason = f"unknown architecture {config.get('model_type')!r} for this transformers"
    elif not arch.endswith("ForCausalLM"):
        reason = f"{arch} is not a causal language model"
    elif not safetensors:
        reason = "pickle-only weights (.bin), which can run code when loaded" if pickles else "no weights"
    return FoundModel(name, folder, source, arch, _safetensors_params(safetensors), size or _tree_size(folder), reason)


def gguf_model(path: Path, source: str, gguf_archs: set[str], name: str | None = None) -> FoundModel:
    """Describe a GGUF file from its header."""
    from gguf import GGUFReader

    size = Path(path).stat().st_size
    try:
        reader = GGUFReader(path)
    except (OSError, ValueError) as exc:
        return FoundModel(name or Path(path).stem, Path(path), source, "?", None, size, f"unreadable GGUF: {exc}")
    arch = _gguf_string(reader, "general.architecture") or "?"
    params = sum(int(t.n_elements) for t in reader.tensors)
    reason = None if arch in gguf_archs else f"transformers cannot read GGUF architecture {arch!r}"
    return FoundModel(name or _gguf_string(reader, "general.name") or Path(path).stem, Path(path), source, arch,
                      params, size, reason)


def scan_hf_cache(cache: Path, model_types: set[str]) -> list[FoundModel]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: r.last_modified)
        snapshot = revision.snapshot_path
        ggufs = sorted(snapshot.glob("*.gguf"))
        if (snapshot / "config.json").is_file() or not ggufs:
            found.append(hf_folder_model(snapshot, "hf-cache", model_types, repo.repo_id, repo.size_on_disk))
    return found


def scan_lm_studio(root: Path, gguf_archs: set[str]) -> list[FoundModel]:
    """LM Studio keeps models/<publisher>/<repo>/<file>.gguf."""
    return [gguf_model(p, "lm-studio", gguf_archs, f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
            for p in sorted(Path(root).glob("*/*/*.gguf"))] if Path(root).is_dir() else []


def scan_ollama(root: Path, gguf_archs: set[str]) -> list[FoundModel]:
    """Ollama keeps manifests/<registry>/<namespace>/<model>/<tag> (JSON) naming blobs/sha256-<hex>."""
    manifests = Path(root) / "manifests"
    found = []
    for manifest in sorted(p for p in manifests.glob("*/*/*/*") if p.is_file()) if manifests.is_dir() else []:
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError, AttributeError):
            continue
        digest = next((layer.get("digest") for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER), None)
        blob = Path(root) / "blobs" / str(digest).replace(":", "-")
        namespace, model, tag = manifest.parts[-3:]
        name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
        if digest and blob.is_file():
            found.append(gguf_model(blob, "ollama", gguf_archs, name))
    return found


def scan_recent(specs: Iterable[str], model_types: set[str], gguf_archs: set[str]) -> list[FoundModel]:
    """The models named by recent projects (folders or .gguf files that still exist)."""
    found, seen = [], set()
    for spec in specs:
        path = Path(spec).expanduser()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        if path.is_file() and path.suffix == ".gguf":
            found.append(gguf_model(path, "recent", gguf_archs))
        elif path.is_dir():
            found.append(hf_folder_model(path, "recent", model_types))
    return found


def project_model_specs(projects: Iterable[Path]) -> list[str]:
    """The model spec of each project folder ("embedded" left out: it is always offered)."""
    specs = []
    for root in projects:
        try:
            spec = json.loads((Path(root) / META_NAME).read_text(encoding="utf-8")).get("model")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(spec, str) and spec != "embedded":
            specs.append(spec)
    return specs


def find_models(model_types: set[str], gguf_archs: set[str], recent_specs: Iterable[str] = (),
                places: dict[str, Path] | None = None) -> list[FoundModel]:
    """Every model found in `places` (default: this user's) and the recent projects' models."""
    places = places or default_places()
    found = scan_hf_cache(places["hf-cache"], model_types) if "hf-cache" in places else []
    for key in ("lm-studio", "lm-studio-legacy"):
        if key in places:
            found += scan_lm_studio(places[key], gguf_archs)
    if "ollama" in places:
        found += scan_ollama(places["ollama"], gguf_archs)
    return found + scan_recent(recent_specs, model_types, gguf_archs)


def _safetensors_params(files: list[Path]) -> int | None:
    from safetensors import SafetensorError, safe_open

    total = 0
    try:
        for file in files:
            with safe_open(str(file), framework="numpy") as f:
                for key in f.keys():
                    shape = f.get_slice(key).get_shape()
                    count = 1
                    for dim in shape:
                        count *= dim
                    total += count
    except (OSError, SafetensorError):
        return None
    return total or None


def _gguf_string(reader, key: str) -> str | None:
    field = reader.fields.get(key)
    return field.contents() if field is not None else None


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
