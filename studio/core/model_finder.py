"""Find local models where users keep them: the Hugging Face cache, LM Studio's and Ollama's folders, and the
models of recent projects; with name, architecture, parameters, size on disk, and whether the studio can
train each (and fits it in memory), or why not.

The HF cache is read through `huggingface_hub.scan_cache_dir`, GGUF headers through `gguf.GGUFReader` and
safetensors headers through `safetensors.safe_open` (numpy, no weights read). Only the Ollama manifest
walk is by hand: Ollama publishes no Python reader for its store (manifests name the GGUF blob by digest).
No torch or transformers here: the caller passes which model types and GGUF architectures transformers knows.

Every file is someone else's: one that cannot be read, or says something absurd, gives an entry whose reason
says so, and the scan goes on. Only regular files are opened (a FIFO would block the scan for ever).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from studio.core.jsonl import read_text
from studio.core.project import META_NAME

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")  # names a file of blobs/, never a path
MAX_JSON_BYTES = 16 << 20  # a config.json or a manifest is a few KiB
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
        config = _json_object(folder / "config.json", "config.json")
        arch = _architecture(config)
    except ValueError as exc:
        return FoundModel(name, folder, source, "?", None, size or _tree_size(folder),
                          f"no readable config.json: {exc}")
    safetensors = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
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
    """Describe a GGUF file from its header (a file that is not one, or whose header does not parse, says so)."""
    from gguf import GGUFReader

    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    try:
        if not path.is_file():
            raise ValueError("not a regular file")
        reader = GGUFReader(path)
        arch = _gguf_string(reader, "general.architecture") or "?"
        params = sum(int(t.n_elements) for t in reader.tensors)
        title = _gguf_string(reader, "general.name")
    # gguf parses the header with numpy: a crafted count or offset ends in any of these
    except (OSError, ValueError, LookupError, TypeError, OverflowError, MemoryError) as exc:
        return FoundModel(name or path.stem, path, source, "?", None, size, f"unreadable GGUF: {exc}")
    reason = None if arch in gguf_archs else f"transformers cannot read GGUF architecture {arch!r}"
    return FoundModel(name or title or path.stem, path, source, arch, params, size, reason)


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
        namespace, model, tag = manifest.parts[-3:]
        name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
        try:
            digest = _ollama_model_digest(manifest)
        except ValueError as exc:
            found.append(FoundModel(name, manifest, "ollama", "?", None, 0, f"unreadable Ollama manifest: {exc}"))
            continue
        blob = Path(root) / "blobs" / str(digest).replace(":", "-")
        if digest and blob.is_file():
            found.append(gguf_model(blob, "ollama", gguf_archs, name))
    return found


def _ollama_model_digest(manifest: Path) -> str | None:
    """The digest of a manifest's model layer (None when it has none); ValueError for a malformed manifest."""
    layers = _json_object(manifest, "Ollama manifest").get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise ValueError('"layers" must be a list of objects')
    digest = next((layer.get("digest") for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER), None)
    if digest is not None and not (isinstance(digest, str) and OLLAMA_DIGEST.fullmatch(digest)):
        raise ValueError(f"the model layer's digest {str(digest)[:80]!r} is not sha256:<64 hex digits>")
    return digest


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


def _json_object(path: Path, what: str) -> dict:
    """A small regular file holding one JSON object; ValueError otherwise."""
    value = json.loads(read_text(path, MAX_JSON_BYTES, what))
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds {type(value).__name__}, not a JSON object")
    return value


def _architecture(config: dict) -> str:
    """The config's first architecture (or its model type); ValueError where they are not text."""
    architectures, model_type = config.get("architectures"), config.get("model_type", "?")
    if not isinstance(model_type, str):
        raise ValueError(f'"model_type" must be text, got {model_type!r:.80}')
    if architectures is None or architectures == []:
        return model_type
    if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
        raise ValueError(f'"architectures" must be a list of names, got {architectures!r:.80}')
    return architectures[0]


def _gguf_string(reader, key: str) -> str | None:
    field = reader.fields.get(key)
    value = field.contents() if field is not None else None
    return value if isinstance(value, str) else None


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
