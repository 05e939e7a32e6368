"""Models found in fake HF / LM Studio / Ollama stores laid out as the real ones are."""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from studio.core.model_finder import find_models
from tests.kill_harness import ROOT, child_env

MODEL_TYPES = {"llama", "qwen2"}
GGUF_ARCHS = {"llama", "qwen2"}


def write_gguf(path: Path, arch: str, name: str) -> int:
    """A real GGUF file with two tensors; returns its parameter count."""
    writer = GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_tensor("token_embd.weight", np.zeros((10, 4), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return 44


def hf_repo(cache: Path, repo_id: str, files: dict[str, bytes | Path]) -> None:
    """models--org--name/{blobs,refs/main,snapshots/<commit>/...} with snapshot files linking to blobs."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(Path("../../blobs") / blob.name)


@pytest.fixture
def places(tmp_path, tiny_model_dir):
    cache = tmp_path / "hf" / "hub"
    hf_repo(cache, "tiny/llama", {p.name: p for p in tiny_model_dir.iterdir()})
    config = json.loads((tiny_model_dir / "config.json").read_text())
    hf_repo(cache, "old/pickled", {"config.json": json.dumps(config).encode(), "pytorch_model.bin": b"pickle"})
    hf_repo(cache, "odd/remote", {"config.json": json.dumps({**config, "auto_map": {"AutoModel": "x.Y"}}).encode(),
                                   "model.safetensors": (tiny_model_dir / "model.safetensors").read_bytes()})
    lm = tmp_path / "lmstudio" / "models" / "bartowski" / "Smol-GGUF"
    lm.mkdir(parents=True)
    write_gguf(lm / "smol-Q8_0.gguf", "llama", "Smol")
    ollama = tmp_path / "ollama"
    (ollama / "blobs").mkdir(parents=True)
    write_gguf(ollama / "blobs" / "tmp", "bert", "Embedder")
    digest = hashlib.sha256((ollama / "blobs" / "tmp").read_bytes()).hexdigest()
    (ollama / "blobs" / "tmp").rename(ollama / "blobs" / f"sha256-{digest}")
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "embedder" / "latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:00"},
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}"}]}))
    return {"hf-cache": cache, "lm-studio": tmp_path / "lmstudio" / "models", "ollama": ollama}


def test_finds_models_in_every_store_with_their_facts_and_reasons(places, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM  # only to count the tiny model's parameters the reference way

    recent = tmp_path / "recent-model"
    shutil.copytree(tiny_model_dir, recent)
    found = {m.name: m for m in find_models(MODEL_TYPES, GGUF_ARCHS, [str(recent), "/no/such/model"], places)}
    assert set(found) == {"tiny/llama", "old/pickled", "odd/remote", "bartowski/Smol-GGUF/smol-Q8_0.gguf",
                          "embedder:latest", "recent-model"}
    tiny = found["tiny/llama"]
    expected = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_model_dir).parameters())
    assert (tiny.source, tiny.architecture, tiny.reason) == ("hf-cache", "LlamaForCausalLM", None)
    assert tiny.params == expected
    assert tiny.size_bytes == sum(p.stat().st_size for p in tiny_model_dir.iterdir())
    assert found["recent-model"].params == expected and found["recent-model"].source == "recent"
    assert "pickle-only" in found["old/pickled"].reason
    assert "remote code" in found["odd/remote"].reason
    smol = found["bartowski/Smol-GGUF/smol-Q8_0.gguf"]
    assert (smol.architecture, smol.params, smol.reason) == ("llama", 44, None)
    assert found["embedder:latest"].reason == "transformers cannot read GGUF architecture 'bert'"
    assert tiny.fits(2**31) and not tiny.fits(2**30)  # 1 GiB + 12 B per parameter


def test_missing_stores_give_an_empty_list(tmp_path):
    places = {"hf-cache": tmp_path / "none", "lm-studio": tmp_path / "none2", "ollama": tmp_path / "none3"}
    assert find_models(MODEL_TYPES, GGUF_ARCHS, [], places) == []


def test_studio_models_lists_this_users_stores_and_recent_projects(places, tiny_model_dir, tmp_path,
                                                                   monkeypatch, capsys):
    from studio.cli import main
    from studio.core.project import Project
    from studio.core.recent import remember_project

    monkeypatch.setenv("HF_HUB_CACHE", str(places["hf-cache"]))
    monkeypatch.setenv("OLLAMA_MODELS", str(places["ollama"]))
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.move(places["lm-studio"], tmp_path / ".lmstudio" / "models")
    remember_project(Project.init(tmp_path / "proj", model=str(tiny_model_dir)).root)
    assert main(["models", "--json"]) == 0
    found = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(found) == {"tiny/llama", "old/pickled", "odd/remote", "bartowski/Smol-GGUF/smol-Q8_0.gguf",
                          "embedder:latest", tiny_model_dir.name}
    tiny = found["tiny/llama"]
    assert tiny["trainable"] and tiny["verdict"].startswith("trainable, needs ~1.0 GB of ")
    assert found["embedder:latest"]["verdict"] == "cannot train: transformers cannot read GGUF architecture 'bert'"


def _claiming(path: Path, offset: int, count: int) -> None:
    """Overwrite a GGUF header's 8-byte count at `offset` (8: tensors, 16: key-value fields)."""
    data = bytearray(path.read_bytes())
    data[offset:offset + 8] = struct.pack("<Q", count)
    path.write_bytes(data)


def _manifest(ollama: Path, model: str, content: str) -> None:
    path = ollama / "manifests" / "registry.ollama.ai" / "library" / model / "latest"
    path.parent.mkdir(parents=True)
    path.write_text(content)


@pytest.fixture
def hostile_places(places, tiny_model_dir, tmp_path):
    """`places` plus crafted entries (issue 23, item 9): each should be listed as unusable, the rest as before."""
    config = json.loads((tiny_model_dir / "config.json").read_text())
    cache = places["hf-cache"]
    hf_repo(cache, "bad/list", {"config.json": b"[1, 2]"})
    hf_repo(cache, "bad/int-arch", {"config.json": json.dumps({**config, "architectures": [1]}).encode(),
                                    "model.safetensors": (tiny_model_dir / "model.safetensors").read_bytes()})
    hf_repo(cache, "bad/list-type", {"config.json": json.dumps({**config, "model_type": ["llama"]}).encode()})
    lm = places["lm-studio"] / "evil" / "Huge-GGUF"
    lm.mkdir(parents=True)
    for name, offset in [("tensors.gguf", 8), ("fields.gguf", 16)]:
        write_gguf(lm / name, "llama", "Huge")
        _claiming(lm / name, offset, 2**62)
    ollama = places["ollama"]
    outside = tmp_path / "outside.gguf"
    write_gguf(outside, "llama", "Outside")
    _manifest(ollama, "layers-number", json.dumps({"layers": 5}))
    _manifest(ollama, "layers-text", json.dumps({"layers": ["x"]}))
    _manifest(ollama, "a-list", "[]")
    _manifest(ollama, "absolute", json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                          "digest": str(outside)}]}))
    _manifest(ollama, "climbing", json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                          "digest": "sha256:../../../outside.gguf"}]}))
    return places


BAD_REASONS = {
    "bad/list": "no readable config.json: ", "bad/int-arch": '"architectures" must be a list of names',
    "bad/list-type": '"model_type" must be text', "evil/Huge-GGUF/tensors.gguf": "unreadable GGUF: ",
    "evil/Huge-GGUF/fields.gguf": "unreadable GGUF: ", "layers-number:latest": '"layers" must be a list',
    "layers-text:latest": '"layers" must be a list', "a-list:latest": "not a JSON object",
    "absolute:latest": "is not sha256:<64 hex digits>", "climbing:latest": "is not sha256:<64 hex digits>"}


def test_crafted_entries_are_listed_as_unusable_and_the_rest_as_before(hostile_places, tmp_path):
    found = {m.name: m for m in find_models(MODEL_TYPES, GGUF_ARCHS, [], hostile_places)}
    assert set(found) == {"tiny/llama", "old/pickled", "odd/remote", "bartowski/Smol-GGUF/smol-Q8_0.gguf",
                          "embedder:latest", *BAD_REASONS}
    for name, reason in BAD_REASONS.items():
        assert reason in (found[name].reason or ""), (name, found[name].reason)
        assert found[name].params is None and found[name].architecture == "?"
    assert not any(m.path == tmp_path / "outside.gguf" for m in found.values())  # nothing read outside blobs/
    assert found["tiny/llama"].reason is None and found["bartowski/Smol-GGUF/smol-Q8_0.gguf"].params == 44


def test_studio_models_lists_past_a_fifo_and_crafted_entries(hostile_places, tmp_path, monkeypatch):
    """A FIFO named *.gguf once hung `models`, a crafted entry printed a traceback: now each is one listed entry."""
    monkeypatch.setenv("HF_HUB_CACHE", str(hostile_places["hf-cache"]))
    monkeypatch.setenv("OLLAMA_MODELS", str(hostile_places["ollama"]))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".lmstudio").mkdir()
    hostile_places["lm-studio"].rename(tmp_path / ".lmstudio" / "models")
    os.mkfifo(tmp_path / ".lmstudio" / "models" / "evil" / "Huge-GGUF" / "pipe.gguf")
    snapshot = next((hostile_places["hf-cache"] / "models--bad--int-arch" / "snapshots").iterdir())
    os.mkfifo(snapshot / "pipe.safetensors")
    (snapshot / "config.json").unlink()
    os.mkfifo(snapshot / "config.json")
    result = subprocess.run([sys.executable, "-m", "studio", "models", "--json"], cwd=ROOT, env=child_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    found = {m["name"]: m for m in json.loads(result.stdout)}
    assert found["evil/Huge-GGUF/pipe.gguf"]["verdict"] == "cannot train: unreadable GGUF: not a regular file"
    assert found["bad/int-arch"]["verdict"].startswith("cannot train: no readable config.json: ")
    assert "not a regular file" in found["bad/int-arch"]["verdict"]
    assert set(BAD_REASONS) < set(found) and found["tiny/llama"]["trainable"]
