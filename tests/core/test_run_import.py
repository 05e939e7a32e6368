"""`runs import` trusts nothing it reads (issue 23, items 11 and 13): a malformed job.json, config or
adapter config is named in one line, a junk adapter is no finished run, and no symlink is followed."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.core.project import Project
from studio.core.run_import import import_run


def write_adapter(path: Path) -> None:
    """A real (tiny) safetensors adapter."""
    save_file({"base_model.model.lm_head.lora_A.weight": np.zeros((4, 8), np.float32)}, path)


def _job(root: Path, job: object = None) -> Path:
    out = root / "output"
    out.mkdir(parents=True)
    (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    write_adapter(out / "adapter_model.safetensors")
    (root / "job.json").write_text(json.dumps({"kind": "sft", "config": {"steps": 5}} if job is None else job))
    return out


@pytest.fixture
def project(tmp_path) -> Project:
    return Project.init(tmp_path / "proj", model="embedded")


def _nothing_imported(project: Project) -> bool:
    return project.store.runs() == [] and not any((project.root / "runs").iterdir())


@pytest.mark.parametrize("job, message", [
    ("{not json", r"job.json is not valid JSON: Expecting property name"),
    ([1, 2], r"job.json must hold a JSON object, got list"),
    ({"kind": "sft", "config": [1]}, r'job.json: "config" has the wrong type'),
    ({"kind": "sft", "config": {"steps": "many"}}, r'job.json: "config.steps" has the wrong type'),
    ({"kind": "sft", "config": {"steps": -1}}, r'job.json: "config.steps" has the wrong type'),
    ({"kind": ["sft"]}, r'job.json: "kind" has the wrong type'),
    ({"kind": "sft", "init_run": "1"}, r'job.json: "init_run" has the wrong type'),
    ({"kind": "sft", "init_run": True}, r'job.json: "init_run" has the wrong type'),
])
def test_a_malformed_job_json_is_named_in_one_line(project, tmp_path, job, message):
    out = _job(tmp_path / "job")
    (tmp_path / "job" / "job.json").write_text(job if isinstance(job, str) else json.dumps(job))
    with pytest.raises(ValueError, match=message) as err:
        import_run(project, out)
    assert str(tmp_path / "job" / "job.json") in str(err.value) and "\n" not in str(err.value)
    assert _nothing_imported(project)


@pytest.mark.parametrize("config, message", [
    ("{", "adapter_config.json is not valid JSON"),
    ('"LORA"', "adapter_config.json must hold a JSON object, got str"),
    (b"\xff\xfe", "adapter_config.json is not valid UTF-8"),
    ('{"peft_type": "IA3"}', "holds a IA3 adapter; only LoRA adapters import"),
])
def test_a_malformed_adapter_config_is_named_in_one_line(project, tmp_path, config, message):
    out = _job(tmp_path / "job")
    path = out / "adapter_config.json"
    path.write_bytes(config) if isinstance(config, bytes) else path.write_text(config)
    with pytest.raises(ValueError, match=message):
        import_run(project, out)
    assert _nothing_imported(project)


@pytest.mark.parametrize("weights, message", [
    (b"junk", "is not a readable safetensors file"),
    (b"", "is not a readable safetensors file"),
    (len(b"{}").to_bytes(8, "little") + b"{}", "holds no tensors"),
    (len(b'{"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}').to_bytes(8, "little")
     + b'{"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}' + b"\0" * 8,
     "is not a readable safetensors file"),  # a header promising more than the file holds
])
def test_a_junk_adapter_is_not_a_finished_run(project, tmp_path, weights, message):
    out = _job(tmp_path / "job")
    (out / "adapter_model.safetensors").write_bytes(weights)
    with pytest.raises(ValueError, match=message):
        import_run(project, out)
    assert _nothing_imported(project)


@pytest.mark.parametrize("where", ["notes.txt", "sub/notes.txt", "adapter_config.json", "adapter_model.safetensors",
                                   "sub"])
def test_a_symlink_in_the_folder_is_refused_not_followed(project, tmp_path, where):
    out = _job(tmp_path / "job")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the folder")
    link = out / where
    link.parent.mkdir(exist_ok=True)
    if link.exists():
        os.replace(link, tmp_path / link.name)  # the real file lies outside now; the link points to it
        secret = tmp_path / link.name
    link.symlink_to(secret if where != "sub" else tmp_path)
    with pytest.raises(ValueError, match=f"{link} is a symlink, not a regular file"):
        import_run(project, out)
    assert _nothing_imported(project)


def test_a_fifo_in_the_folder_is_refused_without_blocking(project, tmp_path):
    out = _job(tmp_path / "job")
    os.mkfifo(out / "pipe")  # copying it would block until someone wrote to it
    with pytest.raises(ValueError, match="pipe is a pipe or device, not a regular file"):
        import_run(project, out)
    assert _nothing_imported(project)


def test_a_good_job_still_imports_and_leaves_its_pickles_behind(project, tmp_path):
    out = _job(tmp_path / "job")
    (out / "training_args.bin").write_bytes(b"pickle")
    (out / "checkpoint-5").mkdir()
    (out / "checkpoint-5" / "link").symlink_to("/etc/hostname")  # not copied, so not refused
    run = project.store.run(import_run(project, out))
    assert (run.kind, run.status, run.step) == ("sft", "finished", 5)
    assert sorted(p.name for p in project.artifact_path(run).iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]
