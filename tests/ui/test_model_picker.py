"""File > Model > Found on this computer: the scan runs in the background; untrainable models show why."""
import hashlib
import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from studio.ui.main_window import MainWindow
from tests.core.test_model_finder import hf_repo, write_gguf
from tests.ui.helpers import show


def test_picker_lists_found_models_and_switches_to_the_chosen_one(qtbot, ctx, tiny_model_dir, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    hf_repo(cache, "tiny/llama", {p.name: p for p in tiny_model_dir.iterdir()})
    ollama = tmp_path / "ollama"
    (ollama / "blobs").mkdir(parents=True)
    write_gguf(ollama / "blobs" / "b", "bert", "Embedder")
    digest = hashlib.sha256((ollama / "blobs" / "b").read_bytes()).hexdigest()
    (ollama / "blobs" / "b").rename(ollama / "blobs" / f"sha256-{digest}")
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "embedder" / "latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                "digest": f"sha256:{digest}"}]}))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    monkeypatch.setenv("HOME", str(tmp_path))

    window = show(qtbot, MainWindow(ctx))
    qtbot.waitUntil(lambda: not ctx.running(), timeout=60_000)  # the model has loaded
    picker = window.pick_found_model()
    qtbot.waitUntil(lambda: picker.table.rowCount() > 0, timeout=60_000)
    names = [picker.table.item(r, 0).text() for r in range(picker.table.rowCount())]
    assert sorted(names) == sorted(["tiny/llama", "embedder:latest", tiny_model_dir.name])  # + this project's model
    bert = names.index("embedder:latest")
    assert picker.table.item(bert, 5).text() == "cannot train: transformers cannot read GGUF architecture 'bert'"
    assert not picker.table.item(bert, 0).flags() & Qt.ItemFlag.ItemIsSelectable
    assert picker.status.text() == "3 models found, 2 trainable here."
    picker.table.selectRow(names.index("tiny/llama"))
    qtbot.mouseClick(picker.buttons.button(QDialogButtonBox.StandardButton.Open), Qt.MouseButton.LeftButton)
    assert ctx.project.model_spec == picker.models[names.index("tiny/llama")]["path"]
    qtbot.waitUntil(lambda: "M parameters" in window.model_label.text() and not ctx.running(), timeout=60_000)
