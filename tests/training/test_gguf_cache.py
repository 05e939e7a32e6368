"""The GGUF -> safetensors cache is rebuilt when the file's name, size or mtime changes, or when it is incomplete."""
from __future__ import annotations

import os
import shutil

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from studio.training import models


@pytest.fixture
def conversions(tiny_model_dir, tmp_path, monkeypatch) -> list[str]:
    """Stand-in GGUF reader (the tiny model) that records each conversion; the cache in a temporary folder."""
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[str] = []

    class ModelReader:
        from_config = staticmethod(AutoModelForCausalLM.from_config)

        @staticmethod
        def from_pretrained(folder, gguf_file, local_files_only):
            seen.append(gguf_file)
            return AutoModelForCausalLM.from_pretrained(tiny_model_dir)

    class TokenizerReader:
        @staticmethod
        def from_pretrained(folder, gguf_file, local_files_only):
            return AutoTokenizer.from_pretrained(tiny_model_dir)

    monkeypatch.setattr(models, "AutoModelForCausalLM", ModelReader)
    monkeypatch.setattr(models, "AutoTokenizer", TokenizerReader)
    return seen


def test_the_cache_follows_the_files_name_size_and_mtime(tmp_path, conversions):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    first = models._gguf_cache(gguf, lambda _: None)
    assert (first / "model.safetensors").is_file() and conversions == ["m.gguf"]
    assert models._gguf_cache(gguf, lambda _: None) == first and len(conversions) == 1  # reused

    stat = gguf.stat()
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert models._gguf_cache(gguf, lambda _: None) != first and len(conversions) == 2

    gguf.write_bytes(gguf.read_bytes() + b"\0")  # one byte longer
    models._gguf_cache(gguf, lambda _: None)
    renamed = gguf.rename(tmp_path / "n.gguf")
    models._gguf_cache(renamed, lambda _: None)
    assert conversions == ["m.gguf", "m.gguf", "m.gguf", "n.gguf"]


def test_a_half_written_cache_is_converted_again(tmp_path, conversions):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    folder = models._gguf_cache(gguf, lambda _: None)
    (folder / "config.json").unlink()  # as if the copy had been cut short
    (folder.parent / ".tmp-leftover").mkdir()  # and a killed conversion's temporary folder
    assert models._gguf_cache(gguf, lambda _: None) == folder and len(conversions) == 2
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    shutil.rmtree(folder.parent / ".tmp-leftover")
