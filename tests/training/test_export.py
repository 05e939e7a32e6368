"""Exported runs name the base model by what it is, never by a path on this machine."""
import json

from studio.core.project import Project
from studio.training.models import EMBEDDED_HF_NAME, model_identity
from studio.training.runs import export_run
from tests.ui.seed import seed_data, seed_runs


def test_model_identity_is_never_a_local_path(tmp_path):
    assert model_identity("embedded") == EMBEDDED_HF_NAME
    assert model_identity(tmp_path / "models" / "tiny.Q4.gguf") == "tiny.Q4.gguf"
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "org/name"}))
    assert model_identity(folder) == "org/name"
    (folder / "config.json").write_text(json.dumps({"_name_or_path": str(tmp_path / "x" / "y")}))
    assert model_identity(folder) == "my-model"


def test_exported_adapter_and_merged_model_hold_no_local_path(tmp_path, tiny_model_dir):
    root = tmp_path / "project"
    project = Project.init(root, model=str(tiny_model_dir))
    seed_data(project.store)
    project.close()
    runs = seed_runs(root)
    project = Project.open(root)
    for merged in (False, True):
        out = export_run(project, str(runs["sft"]), tmp_path / f"out-{merged}", merged=merged)
        for file in out.iterdir():
            if file.suffix == ".json":
                text = file.read_text(encoding="utf-8")
                assert str(tmp_path) not in text and str(tiny_model_dir) not in text, file.name
    config = json.loads((tmp_path / "out-False" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == model_identity(tiny_model_dir) == tiny_model_dir.name
    project.close()
