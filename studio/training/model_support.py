"""What this transformers can load: the model types (for HF folders) and the GGUF architectures it reads."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def known_model_types() -> set[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return set(CONFIG_MAPPING_NAMES)


def gguf_architectures() -> set[str]:
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return set(GGUF_CONFIG_MAPPING)


def model_problem(spec: str | Path) -> str | None:
    """Why the model folder or .gguf file `spec` cannot be used, in the words of `models` (remote code, pickle
    or no weights, an unknown architecture); None when it can (or when `spec` is neither: the loader says)."""
    from studio.core.model_finder import gguf_model, hf_folder_model

    path = Path(spec).expanduser()
    if path.is_dir():
        return hf_folder_model(path, "given", known_model_types()).reason
    if path.suffix == ".gguf" and path.exists():
        return gguf_model(path, "given", gguf_architectures()).reason
    return None


def local_models(recent_projects: Iterable[Path]) -> list[dict]:
    """Every model found on this machine (and the recent projects' models) as summaries with a training verdict."""
    from studio.core.model_finder import find_models, machine_memory, project_model_specs

    memory = machine_memory()
    found = find_models(known_model_types(), gguf_architectures(), project_model_specs(recent_projects))
    return [m.summary(memory) for m in found]
